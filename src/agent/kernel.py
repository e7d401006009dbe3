# The kernel's loop: a persistent namespace that runs each request's code like a notebook cell, served over the lane.
from __future__ import annotations

import ast
import builtins
import importlib
import importlib.machinery
import importlib.util
import json
import linecache
import os
import resource
import signal
import sys
import time
import types

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine
    from typing import Any

KERNEL_FILE = os.path.abspath(__file__)
_HERE = os.path.dirname(KERNEL_FILE)

# The agent folder as a package under a private name: the kernel's modules import each other relatively, and a
# workspace file called e.g. caches.py or kernel_display.py still imports as the user's own.
_PACKAGE = '_sandbox_agent'
_spec = importlib.machinery.ModuleSpec(_PACKAGE, None, is_package=True)
_spec.submodule_search_locations = [_HERE]
sys.modules[_PACKAGE] = importlib.util.module_from_spec(_spec)


def _load_sibling(name: str) -> types.ModuleType:
    return importlib.import_module(_PACKAGE + '.' + name)


# Loaded now, before the workspace is on sys.path.
channel = _load_sibling('kernel_channel')
rich = _load_sibling('kernel_display')
errors = _load_sibling('kernel_errors')
figures = _load_sibling('kernel_figures')
_caches = _load_sibling('caches')  # clear_cache
_listing = _load_sibling('workspace_listing')  # a Docker volume box's listing, sent with `done` when asked

send = channel.send
_cell = rich.cell
_flush_std = rich.flush_std

CO_COROUTINE = 0x80
FLAG_TOP_LEVEL_AWAIT = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT

# Run after every cell as hook(namespace, status), whatever the status; they sit on every cell's
# path, so each must cost next to nothing when it has nothing to do.
_post_cell_hooks: list[Callable[[dict[str, Any], str], None]] = []

_loads = json.loads
_monotonic = time.monotonic
_getrusage = resource.getrusage
_RU_SELF = resource.RUSAGE_SELF
_RU_CHILDREN = resource.RUSAGE_CHILDREN


class Kernel:
    def __init__(self) -> None:
        self.module = types.ModuleType('__main__')
        self.ns = self.module.__dict__
        self.ns['__builtins__'] = builtins
        # Functions defined in cells must be picklable by reference, as in a notebook.
        self._own_main = sys.modules.get('__main__')
        sys.modules['__main__'] = self.module
        builtins.display = rich.display
        self.future_flags = 0
        self.count = 0
        self.loop: Any = None

    # --- compiling -------------------------------------------------------------

    def compile_cell(self, code: str, filename: str) -> tuple[types.CodeType | None, types.CodeType | None, bool]:
        """(exec code object, eval code object or None, suppress display) or raise SyntaxError."""
        flags = self.future_flags | FLAG_TOP_LEVEL_AWAIT
        tree = compile(code, filename, 'exec', ast.PyCF_ONLY_AST | flags, True)
        body = tree.body
        expr = None
        suppress = False
        if body and isinstance(body[-1], ast.Expr):
            last = body.pop()
            expr = compile(ast.Expression(last.value), filename, 'eval', flags, True)
            suppress = _ends_with_semicolon(code, last)
        mod = compile(tree, filename, 'exec', flags, True) if body else None
        if mod is not None:
            self.future_flags |= mod.co_flags & _FUTURE_MASK
        return mod, expr, suppress

    # --- running ---------------------------------------------------------------

    def execute(self, req: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
        """Run one cell; returns (status, error)."""
        rid = req.get('id')
        code = req.get('code', '')
        count = req.get('execution_count')
        if not isinstance(count, int):
            count = self.count + 1
        self.count = count
        filename = f'<cell-{count:d}>'
        linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
        _cell.rid = rid
        _cell.count = count
        if _cell.seq:
            _cell.seq.clear()
        try:
            mod, expr, suppress = self.compile_cell(code, filename)
        except (SyntaxError, ValueError) as e:
            return 'error', errors.syntax_error_info(code, e)
        status = 'ok'
        error = None
        exit_code = 0  # only used by a forked child
        ns = self.ns
        channel.int_pending = False
        try:
            try:
                channel.running = True
                if mod is not None:
                    r = eval(mod, ns)
                    if mod.co_flags & CO_COROUTINE:
                        self.run_async(r)
                if expr is not None:
                    value = eval(expr, ns)
                    if expr.co_flags & CO_COROUTINE:
                        value = self.run_async(value)
                    if value is not None:
                        ns['_'] = value
                        if not suppress:
                            _flush_std()
                            data, md = rich.mime_bundle(value)
                            send({
                                'type': 'execute_result',
                                'id': rid,
                                'execution_count': count,
                                'data': data,
                                'metadata': md,
                            })
            except KeyboardInterrupt:
                status = 'interrupted'
            except SystemExit as e:
                if not _clean_exit(e):
                    exit_code = e.code & 0xFF if type(e.code) is int else 1  # os._exit takes no bigger int
                    status, error = 'error', errors.runtime_error_info(e, filename)
            except BaseException as e:
                exit_code = 1
                status, error = 'error', errors.runtime_error_info(e, filename)
            if os.getpid() != channel.KERNEL_PID:
                _flush_std()
                os._exit(exit_code)  # the child of a bare os.fork() in the cell ends here
            for hook in _post_cell_hooks:
                try:
                    hook(ns, status)
                except KeyboardInterrupt:
                    raise
                except BaseException as e:
                    sys.stderr.write(f'post-cell hook failed: {type(e).__name__}: {e!s}\n')
        except KeyboardInterrupt:
            status = 'interrupted'
        finally:
            channel.running = False
        return status, error

    def run_async(self, coro: Coroutine[Any, Any, Any]) -> Any:
        import asyncio

        if self.loop is None or self.loop.is_closed():
            self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        return self.loop.run_until_complete(coro)

    def info(self) -> dict[str, Any]:
        u = os.uname()
        # platform.platform()'s string, without its import and the `uname -p` it forks on every kernel start.
        plat = f'{u.sysname}-{u.release}-{u.machine}'
        try:
            plat += '-with-glibc' + os.confstr('CS_GNU_LIBC_VERSION').split()[-1]
        except (ValueError, OSError, AttributeError, IndexError):
            pass
        try:
            cwd = os.getcwd()
        except OSError:
            cwd = None
        return {
            'python_executable': sys.executable,
            'python_version': sys.version,
            'sys_path': list(sys.path),
            'platform': plat,
            'machine': u.machine,
            'cwd': cwd,
            'venv': sys.prefix != sys.base_prefix,
            'prefix': sys.prefix,
            'kernel_pid': os.getpid(),
            'uid': os.getuid(),
            'hostname': u.nodename,
        }

    def serve(self, gen: int, hello_fd: int) -> None:
        read = os.fdopen(channel.REQ_FD, 'rb', closefd=False).readline
        # The leading newline ends any line a killed predecessor left half-written on the lane.
        os.write(channel.EV_FD, b'\n')
        send({'type': 'hello', 'pid': os.getpid(), 'gen': gen, 'info': self.info()})
        if hello_fd >= 0:
            try:
                os.write(hello_fd, b'1')  # tells the agent this kernel started
                os.close(hello_fd)
            except OSError:
                pass
        while True:
            line = read()
            if not line:
                os._exit(0)  # the server is gone
            try:
                req = _loads(line)
            except ValueError:
                continue
            rid = req.get('id')
            op = req.get('op')
            if op == 'execute':
                done = False
                t0 = _monotonic()
                try:
                    ru0 = _getrusage(_RU_SELF)
                    rc0 = _getrusage(_RU_CHILDREN)
                    status, error = self.execute(req)
                    _flush_std()
                    ru1 = _getrusage(_RU_SELF)
                    rc1 = _getrusage(_RU_CHILDREN)
                    msg = {
                        'type': 'done',
                        'id': rid,
                        'status': status,
                        'error': error,
                        'usage': {
                            'cpu_user_ms': round((ru1.ru_utime - ru0.ru_utime + rc1.ru_utime - rc0.ru_utime) * 1000, 3),
                            'cpu_system_ms': round(
                                (ru1.ru_stime - ru0.ru_stime + rc1.ru_stime - rc0.ru_stime) * 1000, 3
                            ),
                            'max_rss_kb': ru1.ru_maxrss,
                        },
                        'cpu_total_ms': round((ru1.ru_utime + ru1.ru_stime + rc1.ru_utime + rc1.ru_stime) * 1000, 3),
                        'unread_output': channel.unread_output(),
                    }
                    if req.get('list_workspace') is True:
                        # a snapshot once the cell's own code has ended (threads it left may still write); null: none
                        msg['workspace_listing'] = _listing_for(req, t0, msg)
                    done = True
                    send(msg)
                except KeyboardInterrupt:
                    # A second SIGINT can land between the cell and the bookkeeping.
                    channel.running = False
                    if not done:
                        send({'type': 'done', 'id': rid, 'status': 'interrupted', 'error': None, 'usage': None})
            elif op == 'info':
                send({'type': 'info', 'id': rid, 'info': self.info()})
            elif op == 'reap':
                _reap_zombie_children()
            elif op == 'clear_cache':
                try:
                    result = _caches.clear(self.ns, req.get('workspace') or os.getcwd(), req.get('important_only'))
                except Exception as e:
                    result = {'error': f'{type(e).__name__}: {e!s}'}
                send({'type': 'reply', 'id': rid, 'result': result})


# A cell's listing walk ends this long before the server's timeout would fire (the server's clock started a little
# before the kernel read the request; SIGINT is not taken once the cell has ended), and is skipped, so that the server
# lists through exec, when less than LISTING_MIN_S would be left for it.
LISTING_MARGIN_S = 0.5
LISTING_MIN_S = 0.05
# The server's cap on one line from the box (MAX_BOX_LINE_BYTES in src/sandbox/protocol-schema.ts).
LINE_CAP = 32 * 1024 * 1024
# What a `done` takes besides its listing and its error (type, id, status, usage and the rest: numbers and short texts).
DONE_RESERVE = 64 * 1024


def _listing_for(req: dict[str, Any], t0: float, msg: dict[str, Any]) -> str | None:
    """The workspace listing for a cell's `done` (msg, without it yet), or None: none within the time the cell's
    timeout (`timeout_ms` of the request, counted from t0) leaves, or within the room the rest of the line leaves (a
    fixed reserve, and the error's own length when there is one: the only part of any size)."""
    seconds = _listing.INLINE_MAX_SECONDS
    timeout_ms = req.get('timeout_ms')
    if isinstance(timeout_ms, (int, float)) and timeout_ms > 0:
        seconds = min(seconds, timeout_ms / 1000 - (_monotonic() - t0) - LISTING_MARGIN_S)
        if seconds < LISTING_MIN_S:
            return None
    room = LINE_CAP - DONE_RESERVE
    if msg.get('error') is not None:
        try:
            room -= len(channel._dumps(msg['error']))
        except ValueError:
            return None
    return _listing.inline(max_bytes=min(_listing.INLINE_MAX_BYTES, room), max_seconds=seconds)


def _clean_exit(e: SystemExit) -> bool:
    """sys.exit(), sys.exit(0) and the like end a cell without an error. The code is the cell's own object: one whose
    comparison raises is not a clean exit."""
    try:
        return e.code in (None, 0)
    except BaseException:
        return False


def _reap_zombie_children() -> None:
    """Collect children the agent killed after a timeout, so their zombies stop holding pids."""
    while True:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return  # no children left
        if pid == 0:
            return  # the rest still run


def _ends_with_semicolon(code: str, node: ast.expr | ast.stmt) -> bool:
    """A trailing ';' after the last expression hides its value, as in a notebook."""
    lines = code.splitlines()
    if node.end_lineno is None or node.end_lineno > len(lines):
        return False
    rest = lines[node.end_lineno - 1].encode('utf-8', 'surrogatepass')[node.end_col_offset :]
    return rest.lstrip().startswith(b';')


def _future_mask() -> int:
    import __future__

    m = 0
    for name in __future__.all_feature_names:
        m |= getattr(__future__, name).compiler_flag
    return m


_FUTURE_MASK = _future_mask()


def main() -> None:
    signal.signal(signal.SIGINT, channel.on_sigint)
    channel.setup_fds(int(sys.argv[1]))
    gen = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    hello_fd = int(sys.argv[3]) if len(sys.argv) > 3 else -1
    preload = sys.argv[4] if len(sys.argv) > 4 else ''
    if hello_fd >= 0:
        os.set_inheritable(hello_fd, False)
    # Let the OOM killer pick the kernel (and whatever it starts), never the agent.
    try:
        with open('/proc/self/oom_score_adj', 'w') as f:
            f.write('1000')
    except OSError:
        pass
    # Cells import from the workspace (cwd) as in a notebook, never from the agent's directory;
    # everything the kernel needs later is imported above, so workspace files cannot shadow it.
    if sys.path and os.path.abspath(sys.path[0] or '.') == _HERE:
        del sys.path[0]
    for s in (sys.stdout, sys.stderr):
        try:
            s.reconfigure(encoding='utf-8', errors='backslashreplace', write_through=True)
        except Exception:
            pass
    sys.argv = ['']
    figures.install_capture(_post_cell_hooks)
    if preload:
        # A pooled box's first kernel only (docs/AGENT_PROTOCOL.md); before the workspace joins sys.path, so
        # only installed libraries load, and before the hello, so the box is handed out once it is done.
        _load_sibling('preload').run(preload)
    sys.path.insert(0, '')
    Kernel().serve(gen, hello_fd)


if __name__ == '__main__':
    main()
