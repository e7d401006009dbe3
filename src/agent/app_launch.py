# The web-app launcher, run as `app_launch.py flask|asgi FILE` with PORT set (src/webapps/commands.ts): runs the
# user's file as __main__, finds its Flask or ASGI app, and serves it on 127.0.0.1:PORT, whatever host, port or
# reloader the file asks for.
import os
import sys
from typing import Any


def _find_app(
    ns: dict[str, Any],
    classes: type | tuple[type, ...],
    names: tuple[str, ...] = ('app', 'application', 'api', 'server'),
    factories: tuple[str, ...] = ('create_app', 'make_app'),
) -> Any:
    def ok(v: object) -> bool:
        return isinstance(v, classes)

    for n in names:
        if ok(ns.get(n)):
            return ns[n]
    for v in list(ns.values()):
        if ok(v):
            return v
    for f in factories:
        fn = ns.get(f)
        if callable(fn):
            v = fn()
            if ok(v):
                return v
    return None


def _resolve(target: Any, ns: dict[str, Any]) -> Any:
    # uvicorn.run("module:attr") names an attribute; the module is the file being run.
    if isinstance(target, str) and ':' in target:
        return ns.get(target.rsplit(':', 1)[1])
    return target


def _run_user_file(path: str) -> dict[str, Any]:
    """Runs the app file as __main__; an exception is printed with the launcher's own frames left out."""
    import runpy
    import traceback

    try:
        return runpy.run_path(path, run_name='__main__')
    except SystemExit:
        raise
    except BaseException as e:
        tb = e.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename != path:
            tb = tb.tb_next
        traceback.print_exception(type(e), e, tb or e.__traceback__)
        sys.exit(1)


def serve_main(kind: str, path: str) -> None:
    port = int(os.environ['PORT'])
    path = os.path.abspath(path)
    # The launcher's own folder must not shadow user modules; the app's folder comes first, as for `python app.py`.
    sys.path[0] = os.path.dirname(path)
    sys.argv = [path]
    calls: list[Any] = []
    if kind == 'flask':
        import flask

        # __main__ semantics: the file runs as a script; app.run() only records the app (host, port, debug and the
        # reloader are the sandbox's to choose), and an app the script never runs is found afterwards.
        flask.Flask.run = lambda self, *a, **kw: calls.append(self)
        ns = _run_user_file(path)
        app = calls[-1] if calls else _find_app(ns, flask.Flask)
        if app is None:
            sys.stderr.write('no Flask app found: define a module-level `app = Flask(__name__)`\n')
            sys.exit(2)
        from werkzeug.serving import run_simple

        print(f' * serving Flask app {app.import_name!r} on 127.0.0.1:{port}', flush=True)
        run_simple('127.0.0.1', port, app, threaded=True, use_reloader=False, use_debugger=False)
        return
    import uvicorn

    real_run = uvicorn.run
    uvicorn.run = lambda target, *a, **kw: calls.append(target)
    ns = _run_user_file(path)
    classes: list[type] = []
    for mod, cls in (('fastapi', 'FastAPI'), ('starlette.applications', 'Starlette')):
        try:
            classes.append(getattr(__import__(mod, fromlist=[cls]), cls))
        except ImportError:
            pass
    app = _resolve(calls[-1], ns) if calls else _find_app(ns, tuple(classes))
    if app is None:
        sys.stderr.write('no ASGI app found: define a module-level `app = FastAPI()`\n')
        sys.exit(2)
    real_run(app, host='127.0.0.1', port=port, log_level='info')


if __name__ == '__main__':
    if len(sys.argv) == 3 and sys.argv[1] in ('flask', 'asgi'):
        serve_main(sys.argv[1], sys.argv[2])
    else:
        sys.stderr.write('usage: app_launch.py flask|asgi FILE\n')
        sys.exit(2)
