# Web apps for agent.py (ops app_start, app_stop, app_probe): managed app processes that survive execute timeouts,
# each app's loopback port relayed to a Unix socket the server connects to (relay.py), app output streamed as log
# events, and the import probe for exports run as a child (app_probe.py); apps start through app_launch.py.
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
from typing import TYPE_CHECKING, Any

import relay
from agent_log import log
from fdread import drain

if TYPE_CHECKING:
    from agent import Agent

HERE = os.path.dirname(os.path.abspath(__file__))
OPS = ('app_start', 'app_stop', 'app_probe')
_APP_ID = re.compile(r'^[A-Za-z0-9_-]{1,64}$')
LOG_CHUNK = 1 << 16
LOG_RATE = 1 << 20  # log bytes per second one app may send; a flood must not crowd execute results off the channel
DRAIN_LIMIT = 4 << 20  # log bytes read after an app exited, before its final is sent
STOP_GRACE_S = 3.0
PROBE_OUT_LIMIT = 8 << 20


def _free_port() -> int:
    # The kernel picks a free port; the short window before the app binds it is the price of letting the app bind.
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]
    finally:
        s.close()


class App:
    def __init__(
        self, rid: Any, app_id: str, proc: 'subprocess.Popen[bytes]', port: int, app_relay: relay.Relay, log_fd: int
    ) -> None:
        self.rid = rid
        self.app_id = app_id
        self.proc = proc
        self.pid = proc.pid
        self.port = port
        self.relay = app_relay
        self.log_fd: int | None = log_fd
        self.status: int | None = None
        self.stopping = False
        self.decoder = codecs.getincrementaldecoder('utf-8')('replace')
        self.tokens = float(LOG_RATE)
        self.t_last = time.monotonic()
        self.dropped = 0


class Probe:
    def __init__(self, rid: Any, proc: 'subprocess.Popen[bytes]') -> None:
        assert proc.stdout is not None
        self.rid = rid
        self.proc = proc
        self.pid = proc.pid
        self.fd = proc.stdout.fileno()
        self.out = bytearray()
        self.answered = False


class AppManager:
    """Owned by the agent; every method runs on the agent's main thread."""

    def __init__(self, agent: 'Agent') -> None:
        self.agent = agent
        self.apps: dict[str, App] = {}
        self.probes: dict[int, Probe] = {}
        self.closed = False
        self.socket_dir = os.environ.get('SANDBOX_SOCKET_DIR') or os.path.join(agent.workspace, '.sandbox', 'sockets')

    # --- requests ------------------------------------------------------------------

    def handle(self, req: dict[str, Any]) -> None:
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
            log(f'apps: {op} failed: {e!r}')
            self._error(rid, 'internal', f'{op} failed: {e}')

    def _error(self, rid: Any, code: str, message: str) -> None:
        self.agent.final_simple(rid, 'error', error={'code': code, 'message': message})

    def start(self, rid: Any, req: dict[str, Any]) -> None:
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
            return self._error(rid, 'bad_request', f'app {app_id} is already running')
        port = _free_port()
        tokens = {'{port}': str(port), '{python}': sys.executable, '{agent_dir}': HERE}
        tokens['{workspace}'] = self.agent.workspace

        def fill(s: str) -> str:
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
            app_relay = relay.unix_to_tcp(path, port)
        except OSError as e:
            return self._error(rid, 'internal', f'cannot create the relay socket {path}: {e}')
        try:
            r, w = os.pipe()
        except OSError as e:
            app_relay.close()
            return self._error(rid, 'internal', f'cannot make the log pipe: {e}')
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
        except (OSError, ValueError) as e:  # ValueError: a NUL byte in argv, env or cwd
            os.close(r)
            os.close(w)
            app_relay.close()
            return self._error(rid, 'runtime_error', f'cannot start {argv[0]}: {e}')
        os.close(w)
        os.set_blocking(r, False)
        app = App(rid, app_id, proc, port, app_relay, r)
        self.apps[app_id] = app
        self.agent.sel.register(r, selectors.EVENT_READ, lambda _fd, a=app: self._on_log(a))
        started = {'type': 'app_started', 'id': rid, 'app_id': app_id, 'pid': proc.pid, 'port': port, 'socket': path}
        self.agent.emit(started)

    def stop(self, rid: Any, req: dict[str, Any]) -> None:
        app = self.apps.get(req.get('app_id'))
        if app is None:
            return self._error(rid, 'not_found', 'no running app {!r}'.format(req.get('app_id')))
        app.stopping = True
        _killpg(app.pid, signal.SIGTERM)
        t = threading.Timer(STOP_GRACE_S, self._force_stop, args=(app,))
        t.daemon = True
        t.start()
        self.agent.final_simple(rid, 'ok')

    def _force_stop(self, app: App) -> None:
        if app.status is None:
            _killpg(app.pid, signal.SIGKILL)

    def probe(self, rid: Any, req: dict[str, Any]) -> None:
        payload = json.dumps(
            {
                'code': req.get('code') if isinstance(req.get('code'), str) else '',
                'search_dirs': [d for d in (req.get('search_dirs') or []) if isinstance(d, str)],
                'extra_dists': [d for d in (req.get('extra_dists') or []) if isinstance(d, str)],
            }
        ).encode('utf-8', 'surrogatepass')
        proc = subprocess.Popen(
            [sys.executable, '-I', os.path.join(HERE, 'app_probe.py')],
            cwd=self.agent.workspace,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        p = Probe(rid, proc)
        self.probes[p.pid] = p
        try:
            assert proc.stdin is not None
            proc.stdin.write(payload)  # the probe reads all of it before anything else
            proc.stdin.close()
        except OSError:
            pass
        os.set_blocking(p.fd, False)
        self.agent.sel.register(p.fd, selectors.EVENT_READ, lambda _fd, pr=p: self._on_probe(pr))

    # --- app output and exit -----------------------------------------------------------

    def _on_log(self, app: App, budget: int = LOG_CHUNK) -> None:
        if app.log_fd is not None and drain(app.log_fd, lambda data: self._send_log(app, data), budget):
            self._close_log(app)

    def _send_log(self, app: App, data: bytes) -> None:
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
            text = f'[{app.dropped} bytes of log dropped]\n{text}'
            app.dropped = 0
        if text:
            self.agent.emit({'type': 'app_log', 'id': app.rid, 'app_id': app.app_id, 'text': text})

    def _close_log(self, app: App) -> None:
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

    def reaped(self, pid: int, status: int) -> bool:
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

    def _finish(self, app: App) -> None:
        self._on_log(app, budget=DRAIN_LIMIT)
        _killpg(app.pid, signal.SIGKILL)  # what the app started (workers, reloaders) goes with it
        self._close_log(app)
        app.relay.close()
        self.apps.pop(app.app_id, None)
        tail = app.decoder.decode(b'', True)
        if tail:
            self.agent.emit({'type': 'app_log', 'id': app.rid, 'app_id': app.app_id, 'text': tail})
        code = os.waitstatus_to_exitcode(app.status or 0)
        self.agent.final_simple(
            app.rid,
            'ok' if code == 0 or app.stopping else 'error',
            exit_code=code if code >= 0 else None,
            signal=-code if code < 0 else None,
            stopped=app.stopping,
        )

    def _on_probe(self, p: Probe) -> None:
        def keep(data: bytes) -> None:
            if len(p.out) < PROBE_OUT_LIMIT:
                p.out += data

        # a budget, as for every stream: code the probe imports could keep this pipe full and starve the agent
        if not drain(p.fd, keep, LOG_CHUNK):
            return
        try:
            self.agent.sel.unregister(p.fd)
        except (KeyError, ValueError):
            pass
        if p.proc.stdout is not None:
            p.proc.stdout.close()
        self._answer_probe(p)

    def _answer_probe(self, p: Probe) -> None:
        if p.answered:
            return
        p.answered = True
        try:
            result = json.loads(bytes(p.out).decode('utf-8', 'replace').strip().splitlines()[-1])
        except (ValueError, IndexError):
            return self._error(p.rid, 'internal', 'the import probe gave no answer')
        self.agent.final_simple(p.rid, 'ok', probe=result)

    # --- the agent's sweeps and shutdown ---------------------------------------------------

    def spared_roots(self) -> set[int]:
        """Pids an execute timeout must spare, with their process groups, sessions and descendants: running apps."""
        if self.closed:
            return set()
        roots = {a.pid for a in self.apps.values() if a.status is None}
        roots.update(self.probes)
        return roots

    def close(self) -> None:
        self.closed = True
        for app in list(self.apps.values()):
            _killpg(app.pid, signal.SIGKILL)
            app.relay.close()
        for p in list(self.probes.values()):
            _killpg(p.pid, signal.SIGKILL)
        self.apps.clear()  # the agent is going away: nothing is left to spare or to answer for
        self.probes.clear()


def _killpg(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except OSError:
        pass
