# Web apps for agent.py (ops app_start, app_stop, app_probe): managed app processes that survive execute timeouts,
# each app's loopback port relayed to a Unix socket the server connects to, app output streamed as log events, and an
# import probe for exports. Run as a script it is the app launcher (`serve`) and the probe (`probe`).
# It must never open a port outside the box's own loopback, never signal the kernel, and never emit from a thread.
import codecs
import json
import os
import re
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
OPS = ('app_start', 'app_stop', 'app_probe')
_APP_ID = re.compile(r'^[A-Za-z0-9_-]{1,64}$')
LOG_CHUNK = 1 << 16
LOG_RATE = 1 << 20  # log bytes per second one app may send; a flood must not crowd execute results off the channel
DRAIN_LIMIT = 4 << 20  # log bytes read after an app exited, before its final is sent
STOP_GRACE_S = 3.0
RELAY_BUF = 1 << 18
CONNECT_TIMEOUT_S = 5.0
PROBE_OUT_LIMIT = 8 << 20


def _log(msg):
    try:
        os.write(2, ('sandbox-agent: apps: %s\n' % msg).encode('utf-8', 'replace'))
    except OSError:
        pass


def _free_port():
    # The kernel picks a free port; the short window before the app binds it is the price of letting the app bind.
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]
    finally:
        s.close()


def _shutdown(sock, how=socket.SHUT_RDWR):
    try:
        sock.shutdown(how)
    except OSError:
        pass


def _pump(src, dst):
    buf = bytearray(RELAY_BUF)
    view = memoryview(buf)
    try:
        while True:
            n = src.recv_into(buf)
            if not n:
                break
            dst.sendall(view[:n])
    except OSError:
        # A reset on either side ends both directions, so the other pump wakes up too.
        _shutdown(src)
        _shutdown(dst)
        return
    _shutdown(dst, socket.SHUT_WR)  # half-close: the peer may still answer


class Relay:
    """A Unix socket whose every connection is piped to 127.0.0.1:port inside the box (two threads per connection)."""

    def __init__(self, path, port):
        self.path = path
        self.port = port
        self.closed = False
        self.lock = threading.Lock()
        self.conns = set()
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.sock.bind(path)
            os.chmod(path, 0o600)
            self.sock.listen(128)
        except OSError:
            self.sock.close()
            raise
        threading.Thread(target=self._accept, name='relay-accept', daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _addr = self.sock.accept()
            except OSError:
                if self.closed:
                    return
                time.sleep(0.05)  # out of fds: wait rather than spin
                continue
            threading.Thread(target=self._bridge, args=(conn,), name='relay-conn', daemon=True).start()

    def _bridge(self, client):
        try:
            up = socket.create_connection(('127.0.0.1', self.port), timeout=CONNECT_TIMEOUT_S)
        except OSError:
            client.close()  # not listening (yet): the server sees the connection close and retries
            return
        up.settimeout(None)
        up.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.lock:
            if self.closed:
                up.close()
                client.close()
                return
            self.conns.update((client, up))
        back = threading.Thread(target=_pump, args=(up, client), name='relay-back', daemon=True)
        back.start()
        _pump(client, up)
        back.join()
        with self.lock:
            self.conns.discard(client)
            self.conns.discard(up)
        up.close()
        client.close()

    def close(self):
        with self.lock:
            if self.closed:
                return
            self.closed = True
            conns = list(self.conns)
        # Only shut down from here: the threads that own the sockets close them, so no fd is closed twice.
        for s in conns:
            _shutdown(s)
        _shutdown(self.sock)
        self.sock.close()
        try:
            os.unlink(self.path)
        except OSError:
            pass


class App:
    def __init__(self, rid, app_id, proc, port, relay, log_fd):
        self.rid = rid
        self.app_id = app_id
        self.proc = proc
        self.pid = proc.pid
        self.port = port
        self.relay = relay
        self.log_fd = log_fd
        self.status = None
        self.stopping = False
        self.decoder = codecs.getincrementaldecoder('utf-8')('replace')
        self.tokens = float(LOG_RATE)
        self.t_last = time.monotonic()
        self.dropped = 0


class Probe:
    def __init__(self, rid, proc):
        self.rid = rid
        self.proc = proc
        self.pid = proc.pid
        self.fd = proc.stdout.fileno()
        self.out = bytearray()
        self.answered = False


class AppManager:
    """Owned by the agent; every method runs on the agent's main thread."""

    def __init__(self, agent):
        self.agent = agent
        self.apps = {}
        self.probes = {}
        self.closed = False
        self.socket_dir = os.environ.get('SANDBOX_SOCKET_DIR') or os.path.join(agent.workspace, '.sandbox', 'sockets')

    # --- requests ------------------------------------------------------------------

    def handle(self, req):
        rid = req.get('id')
        op = req.get('op')
        try:
            if op == 'app_start':
                self.start(rid, req)
            elif op == 'app_stop':
                self.stop(rid, req)
            else:
                self.probe(rid, req)
        except Exception as e:  # a bad request must never take the agent down
            _log('%s failed: %r' % (op, e))
            self._error(rid, 'internal', '%s failed: %s' % (op, e))

    def _error(self, rid, code, message):
        self.agent.final_simple(rid, 'error', error={'code': code, 'message': message})

    def start(self, rid, req):
        app_id = req.get('app_id')
        argv = req.get('argv')
        cwd = req.get('cwd') or '.'
        extra_env = req.get('env') or {}
        if not isinstance(app_id, str) or not _APP_ID.match(app_id):
            return self._error(rid, 'bad_request', 'app_start needs an app_id of letters, digits, - and _')
        if not (isinstance(argv, list) and argv and all(isinstance(a, str) for a in argv)):
            return self._error(rid, 'bad_request', 'app_start needs argv, a non-empty list of strings')
        if not isinstance(cwd, str) or not isinstance(extra_env, dict):
            return self._error(rid, 'bad_request', 'cwd must be a string and env an object')
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in extra_env.items()):
            return self._error(rid, 'bad_request', 'env values must be strings')
        if self.closed or app_id in self.apps:
            return self._error(rid, 'bad_request', 'app %s is already running' % app_id)
        port = _free_port()
        tokens = {'{port}': str(port), '{python}': sys.executable, '{agent_dir}': HERE, '{workspace}': self.agent.workspace}

        def fill(s):
            for k, v in tokens.items():
                s = s.replace(k, v)
            return s

        argv = [fill(a) for a in argv]
        env = dict(os.environ)
        env.update({k: fill(v) for k, v in extra_env.items()})
        env['PORT'] = str(port)
        env['PYTHONUNBUFFERED'] = '1'
        cwd = os.path.join(self.agent.workspace, fill(cwd))
        path = os.path.join(self.socket_dir, app_id + '.sock')
        try:
            os.makedirs(self.socket_dir, exist_ok=True)
            relay = Relay(path, port)
        except OSError as e:
            return self._error(rid, 'internal', 'cannot create the relay socket %s: %s' % (path, e))
        r, w = os.pipe()
        try:
            proc = subprocess.Popen(
                argv,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=w,
                stderr=w,
                start_new_session=True,  # one process group to stop, and a session the timeout sweeps can spare
            )
        except OSError as e:
            os.close(r)
            os.close(w)
            relay.close()
            return self._error(rid, 'runtime_error', 'cannot start %s: %s' % (argv[0], e))
        os.close(w)
        os.set_blocking(r, False)
        app = App(rid, app_id, proc, port, relay, r)
        self.apps[app_id] = app
        self.agent.sel.register(r, selectors.EVENT_READ, lambda _fd, a=app: self._on_log(a))
        self.agent.emit({'type': 'app_started', 'id': rid, 'app_id': app_id, 'pid': proc.pid, 'port': port, 'socket': path})

    def stop(self, rid, req):
        app = self.apps.get(req.get('app_id'))
        if app is None:
            return self._error(rid, 'not_found', 'no running app %r' % (req.get('app_id'),))
        app.stopping = True
        _killpg(app.pid, signal.SIGTERM)
        t = threading.Timer(STOP_GRACE_S, self._force_stop, args=(app,))
        t.daemon = True
        t.start()
        self.agent.final_simple(rid, 'ok')

    def _force_stop(self, app):
        if app.status is None:
            _killpg(app.pid, signal.SIGKILL)

    def probe(self, rid, req):
        payload = json.dumps(
            {
                'code': req.get('code') if isinstance(req.get('code'), str) else '',
                'search_dirs': [d for d in (req.get('search_dirs') or []) if isinstance(d, str)],
                'extra_dists': [d for d in (req.get('extra_dists') or []) if isinstance(d, str)],
            }
        ).encode('utf-8', 'surrogatepass')
        proc = subprocess.Popen(
            [sys.executable, '-I', os.path.join(HERE, 'apps.py'), 'probe'],
            cwd=self.agent.workspace,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        p = Probe(rid, proc)
        self.probes[p.pid] = p
        try:
            proc.stdin.write(payload)  # the probe reads all of it before anything else
            proc.stdin.close()
        except OSError:
            pass
        os.set_blocking(p.fd, False)
        self.agent.sel.register(p.fd, selectors.EVENT_READ, lambda _fd, pr=p: self._on_probe(pr))

    # --- app output and exit -----------------------------------------------------------

    def _on_log(self, app, budget=LOG_CHUNK):
        while budget > 0 and app.log_fd is not None:
            try:
                data = os.read(app.log_fd, LOG_CHUNK)
            except BlockingIOError:
                return
            except OSError:
                data = b''
            if not data:
                self._close_log(app)
                return
            budget -= len(data)
            self._send_log(app, data)

    def _send_log(self, app, data):
        now = time.monotonic()
        app.tokens = min(float(LOG_RATE), app.tokens + (now - app.t_last) * LOG_RATE)
        app.t_last = now
        if len(data) > app.tokens:
            keep = max(int(app.tokens), 0)
            app.dropped += len(data) - keep
            data = data[:keep]
        app.tokens -= len(data)
        text = app.decoder.decode(data)
        if app.dropped and text:
            text = '[%d bytes of log dropped]\n%s' % (app.dropped, text)
            app.dropped = 0
        if text:
            self.agent.emit({'type': 'app_log', 'id': app.rid, 'app_id': app.app_id, 'text': text})

    def _close_log(self, app):
        if app.log_fd is None:
            return
        try:
            self.agent.sel.unregister(app.log_fd)
        except (KeyError, ValueError):
            pass
        try:
            os.close(app.log_fd)
        except OSError:
            pass
        app.log_fd = None

    def reaped(self, pid, status):
        """Called by the agent's reaper for every child it does not know; True when it was one of ours."""
        for app in list(self.apps.values()):
            if app.pid == pid:
                app.status = status
                app.proc.returncode = os.waitstatus_to_exitcode(status)
                self._finish(app)
                return True
        p = self.probes.pop(pid, None)
        if p is not None:
            p.proc.returncode = os.waitstatus_to_exitcode(status)
            return True
        return False

    def _finish(self, app):
        self._on_log(app, budget=DRAIN_LIMIT)
        _killpg(app.pid, signal.SIGKILL)  # what the app started (workers, reloaders) goes with it
        self._close_log(app)
        app.relay.close()
        self.apps.pop(app.app_id, None)
        tail = app.decoder.decode(b'', True)
        if tail:
            self.agent.emit({'type': 'app_log', 'id': app.rid, 'app_id': app.app_id, 'text': tail})
        code = os.waitstatus_to_exitcode(app.status)
        self.agent.final_simple(
            app.rid,
            'ok' if code == 0 or app.stopping else 'error',
            exit_code=code if code >= 0 else None,
            signal=-code if code < 0 else None,
            stopped=app.stopping,
        )

    def _on_probe(self, p):
        while True:
            try:
                data = os.read(p.fd, LOG_CHUNK)
            except BlockingIOError:
                return
            except OSError:
                data = b''
            if data and len(p.out) < PROBE_OUT_LIMIT:
                p.out += data
                continue
            if data:
                continue
            try:
                self.agent.sel.unregister(p.fd)
            except (KeyError, ValueError):
                pass
            p.proc.stdout.close()
            self._answer_probe(p)
            return

    def _answer_probe(self, p):
        if p.answered:
            return
        p.answered = True
        try:
            result = json.loads(bytes(p.out).decode('utf-8', 'replace').strip().splitlines()[-1])
        except (ValueError, IndexError):
            return self._error(p.rid, 'internal', 'the import probe gave no answer')
        self.agent.final_simple(p.rid, 'ok', probe=result)

    # --- the agent's sweeps and shutdown ---------------------------------------------------

    def spared_roots(self):
        """Pids an execute timeout must spare, with their process groups, sessions and descendants: running apps."""
        if self.closed:
            return set()
        roots = {a.pid for a in self.apps.values() if a.status is None}
        roots.update(self.probes)
        return roots

    def close(self):
        self.closed = True
        for app in list(self.apps.values()):
            _killpg(app.pid, signal.SIGKILL)
            app.relay.close()
        for p in list(self.probes.values()):
            _killpg(p.pid, signal.SIGKILL)
        self.apps.clear()  # the agent is going away: nothing is left to spare or to answer for
        self.probes.clear()


def _killpg(pid, sig):
    try:
        os.killpg(pid, sig)
    except OSError:
        pass


# --- launcher: `apps.py serve flask|asgi FILE` --------------------------------------------------------------------


def _find_app(ns, classes, names=('app', 'application', 'api', 'server'), factories=('create_app', 'make_app')):
    def ok(v):
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


def _resolve(target, ns):
    # uvicorn.run("module:attr") names an attribute; the module is the file being run.
    if isinstance(target, str) and ':' in target:
        return ns.get(target.rsplit(':', 1)[1])
    return target


def _run_user_file(path):
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


def serve_main(kind, path):

    port = int(os.environ['PORT'])
    path = os.path.abspath(path)
    # The launcher's own folder must not shadow user modules; the app's folder comes first, as for `python app.py`.
    sys.path[0] = os.path.dirname(path)
    sys.argv = [path]
    calls = []
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

        print(' * serving Flask app %r on 127.0.0.1:%d' % (app.import_name, port), flush=True)
        run_simple('127.0.0.1', port, app, threaded=True, use_reloader=False, use_debugger=False)
        return
    import uvicorn

    real_run = uvicorn.run
    uvicorn.run = lambda target, *a, **kw: calls.append(target)
    ns = _run_user_file(path)
    classes = []
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


# --- probe: `apps.py probe` (JSON on stdin, one JSON line on stdout) --------------------------------------------------

_APP_CLASSES = ('Flask', 'FastAPI', 'Starlette', 'Quart')


def _imports(tree):
    import ast  # here, not at the top: only the probe process parses code

    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name.split('.')[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module:
                found.add(node.module.split('.')[0])
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            f = node.func
            name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
            if name in ('__import__', 'import_module') and isinstance(node.args[0].value, str):
                if not node.args[0].value.startswith('.'):
                    found.add(node.args[0].value.split('.')[0])
    found.discard('')
    return found


def _app_object(tree):
    import ast

    for node in tree.body:
        value = getattr(node, 'value', None)
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and isinstance(value, ast.Call):
            f = value.func
            name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if name in _APP_CLASSES:
                for t in targets:
                    if isinstance(t, ast.Name):
                        return t.id
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name in ('create_app', 'make_app'):
            return node.name + '()'
    return None


def _unguarded_run(tree):
    import ast

    for node in tree.body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            f = node.value.func
            if isinstance(f, ast.Attribute) and f.attr == 'run':
                return True
    return False


def _dist_tops(dist):
    text = dist.read_text('top_level.txt')
    if text:
        return {line.strip() for line in text.splitlines() if line.strip()}
    tops = set()
    for f in dist.files or ():
        parts = f.parts
        if parts and not parts[0].endswith(('.dist-info', '.egg-info')) and parts[0] != '..':
            tops.add(parts[0][:-3] if parts[0].endswith('.py') else parts[0])
    return tops


def _local_module(m, dirs):
    for d in dirs:
        f = os.path.join(d, m + '.py')
        if os.path.isfile(f):
            return f
        if os.path.isdir(os.path.join(d, m)):
            return os.path.join(d, m)
    return None


def _imports_of_files(path, limit=200):
    import ast

    files = [path] if os.path.isfile(path) else []
    if os.path.isdir(path):
        for root, subdirs, names in os.walk(path):
            subdirs[:] = [x for x in subdirs if x != '__pycache__']
            files.extend(os.path.join(root, n) for n in names if n.endswith('.py'))
    found = set()
    for f in files[:limit]:
        try:
            with open(f, 'rb') as fh:
                found |= _imports(ast.parse(fh.read()))
        except (OSError, SyntaxError, ValueError):
            pass
    return found


def probe_main():
    import ast
    import importlib.metadata as md

    req = json.loads(sys.stdin.buffer.read().decode('utf-8', 'surrogatepass'))
    try:
        tree = ast.parse(req.get('code') or '')
    except SyntaxError as e:
        print(json.dumps({'error': {'code': 'syntax_error', 'message': str(e), 'line': e.lineno}}))
        return
    dirs = [os.path.abspath(d) for d in req.get('search_dirs') or []]
    sys.path.extend(d for d in dirs if os.path.isdir(d))  # packages installed into the workspace count as installed
    imports = _imports(tree)
    stdlib = set(sys.stdlib_module_names)
    installed_here = set()
    for d in dirs:
        for dist in md.distributions(path=[d]):
            installed_here |= _dist_tops(dist)
    local = []
    local_files = []
    seen = set()
    # A local module's own imports count too (numpy used only by helpers.py is still needed); bounded, in case of cycles.
    for _round in range(50):
        fresh = sorted(imports - stdlib - installed_here - seen)
        if not fresh:
            break
        for m in fresh:
            seen.add(m)
            found = _local_module(m, dirs)
            if found is None:
                continue
            local.append(m)
            local_files.append(os.path.relpath(found))  # relative to the workspace
            imports |= _imports_of_files(found)
    pd = md.packages_distributions()
    dists = {m: sorted(set(pd.get(m, []))) for m in sorted(imports - stdlib - set(local))}
    names = {d for ds in dists.values() for d in ds} | set(req.get('extra_dists') or [])
    versions = {}
    for n in sorted(names):
        try:
            versions[n] = md.version(n)
        except md.PackageNotFoundError:
            pass
    print(
        json.dumps(
            {
                'python_version': '%d.%d.%d' % sys.version_info[:3],
                'imports': sorted(imports),
                'stdlib': sorted(imports & stdlib),
                'local': local,
                'local_files': local_files,
                'dists': dists,
                'versions': versions,
                'app_object': _app_object(tree),
                'unguarded_run': _unguarded_run(tree),
            }
        )
    )


if __name__ == '__main__':
    if len(sys.argv) >= 2 and sys.argv[1] == 'probe':
        probe_main()
    elif len(sys.argv) == 4 and sys.argv[1] == 'serve' and sys.argv[2] in ('flask', 'asgi'):
        serve_main(sys.argv[2], sys.argv[3])
    else:
        sys.stderr.write('usage: apps.py probe | apps.py serve flask|asgi FILE\n')
        sys.exit(2)
