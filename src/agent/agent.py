# In-box supervisor: speaks docs/AGENT_PROTOCOL.md on stdin/stdout; starts, interrupts, kills and restarts kernel.py,
# runs shells and apps.
import json
import os
import resource
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from types import FrameType
from typing import Any, NoReturn

HERE = os.path.dirname(os.path.abspath(__file__))
KERNEL_PY = os.path.join(HERE, 'kernel.py')
sys.path.insert(0, HERE)  # -I leaves the agent's folder off sys.path
import apps as _apps  # noqa: E402
import netrelay as _netrelay  # noqa: E402
import procs as _procs  # noqa: E402
import shell as _shell  # noqa: E402
from agent_log import log  # noqa: E402
from fdread import read_now  # noqa: E402
from no_dump import forbid_dumping  # noqa: E402

del sys.path[0]

# Passed by the server to the agent and on to every kernel (docs/AGENT_PROTOCOL.md): the lane is a socket carrying
# the server's requests to the kernel and the kernel's events back; the other two are the kernel's stdout and stderr.
LANE_FD = 4
KOUT_FD = 5
KERR_FD = 6

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(',', ':')).encode
# A pooled box's library set (src/agent/preload.py), for its first kernel only; kept out of every child's environment.
PRELOAD = os.environ.pop('SANDBOX_PRELOAD', '')
monotonic = time.monotonic
# A kernel that dies before its hello is started again after 0.2 s, then 0.4 s, 0.8 s … at most 5 s, until one serves.
RESTART_DELAY_S = 0.2
RESTART_DELAY_MAX_S = 5.0


def restart_delay(failures: int) -> float:
    """Seconds to wait before the next kernel after `failures` kernels in a row died before their hello."""
    return min(RESTART_DELAY_S * 2 ** (failures - 1), RESTART_DELAY_MAX_S) if failures > 0 else 0.0


def _apply_rlimits() -> None:
    # DATA and NPROC come only where no cgroup holds memory or processes. NPROC is set here, inside the box's user
    # namespace, where the kernel counts the box's tasks only (set before that namespace it counts the host user's).
    limits = (
        ('SANDBOX_RLIMIT_FSIZE', resource.RLIMIT_FSIZE),
        ('SANDBOX_RLIMIT_NOFILE', resource.RLIMIT_NOFILE),
        ('SANDBOX_RLIMIT_DATA', resource.RLIMIT_DATA),
        ('SANDBOX_RLIMIT_NPROC', resource.RLIMIT_NPROC),
    )
    for env, which in limits:
        raw = os.environ.get(env)
        if not raw:
            continue
        try:
            value = int(raw)
            try:
                resource.setrlimit(which, (value, value))
            except (ValueError, OSError):
                # Without privilege the hard limit can only go down.
                _soft, hard = resource.getrlimit(which)
                if hard != resource.RLIM_INFINITY:
                    value = min(value, hard)
                resource.setrlimit(which, (value, value))
        except (ValueError, OSError) as e:
            log(f'cannot apply {env}={raw}: {e}')


def _set_child_subreaper() -> None:
    # Orphans of the kernel then come back to the agent, so they can still be found and reaped.
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except Exception:
        pass


def _pid1_is_docker_init() -> bool:
    try:
        with open('/proc/1/cmdline', 'rb') as f:
            argv = f.read().split(b'\0')[:4]
        return argv == [b'/usr/bin/python3', b'-I', b'-u', b'/opt/sandbox-agent/docker_init.py']
    except OSError:
        return False


def _box_mode() -> bool:
    if os.environ.get('SANDBOX_IN_BOX') != '1':
        return False
    if os.getpid() == 1:
        return True
    # Sweeping every pid is only safe inside the box's own pid namespace, whose init is bwrap.
    try:
        with open('/proc/1/cmdline', 'rb') as f:
            argv0 = f.read().split(b'\0', 1)[0]
    except OSError:
        argv0 = b''
    if os.path.basename(argv0) == b'bwrap':
        return True
    # A Docker box's pid 1 is its stream carrier, run from the image's read-only agent folder.
    if argv0.startswith(b'/usr/bin/python3') and _pid1_is_docker_init():
        return True
    log('SANDBOX_IN_BOX=1 but pid 1 is not bwrap; killing only the kernel process tree')
    return False


_proc_table = _procs.proc_table


class KernelProc:
    """One kernel process. Its stdout and stderr are the server's output sockets and it speaks JSON lines with the
    server on the lane socket: the agent only starts, signals, kills and reaps it."""

    def __init__(self, workspace: str, gen: int) -> None:
        hello_r, hello_w = os.pipe()
        env = dict(os.environ)
        env['MPLBACKEND'] = 'Agg'
        argv = [sys.executable, '-I', '-u', KERNEL_PY, str(LANE_FD), str(gen), str(hello_w)]
        if gen == 1 and PRELOAD:
            argv.append(PRELOAD)  # a restarted kernel starts bare: its session waits for it, the pool does not
        try:
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=KOUT_FD,
                stderr=KERR_FD,
                pass_fds=(LANE_FD, hello_w),
                start_new_session=True,
                cwd=workspace,
                env=env,
            )
        except BaseException:
            os.close(hello_r)
            raise
        finally:
            os.close(hello_w)
        os.set_blocking(hello_r, False)
        self.pid = self.proc.pid
        self.gen = gen
        self.hello_fd: int | None = hello_r  # the kernel writes one byte once it serves, then closes it
        self.ready = False
        self.status: int | None = None  # wait status once reaped
        self.rusage: resource.struct_rusage | None = None  # its whole life's, from wait4
        self.killed = False

    def close_hello(self) -> None:
        if self.hello_fd is not None:
            try:
                os.close(self.hello_fd)
            except OSError:
                pass
            self.hello_fd = None


class Agent:
    def __init__(self) -> None:
        self.workspace = os.path.abspath(os.environ.get('SANDBOX_WORKSPACE') or os.getcwd())
        self.in_box = _box_mode()
        self.pid = os.getpid()
        self.sel = selectors.DefaultSelector()
        self.kernel: KernelProc | None = None
        self.gen = 0  # kernels started so far; the lane's hello carries it
        self.inbuf = bytearray()
        self.ready_sent = False
        self.failures = 0  # kernels in a row that died before saying hello
        self.restart_at: float | None = None
        self.stop: int | None = None  # set by a signal handler
        self._dying: KernelProc | None = None  # a kernel being killed on purpose, still to be reaped
        self.shells = _shell.Shells(self)  # op 'shell'
        self.apps = _apps.AppManager(self)  # ops app_start, app_stop, app_probe

        for fd in (LANE_FD, KOUT_FD, KERR_FD):
            os.fstat(fd)  # the server passes all three; without them no kernel can run
            os.set_inheritable(fd, False)  # only kernels get them, through pass_fds and dup2
            os.set_blocking(fd, True)  # the server's end may have left them non-blocking
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)
        signal.set_wakeup_fd(self.wake_w, warn_on_full_buffer=False)
        signal.signal(signal.SIGCHLD, lambda s, f: None)
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            signal.signal(sig, self._on_stop_signal)
        self.sel.register(self.wake_r, selectors.EVENT_READ, self._on_wake)
        self.sel.register(0, selectors.EVENT_READ, self._on_stdin)

    def _on_stop_signal(self, signum: int, frame: FrameType | None) -> None:
        self.stop = signum

    # --- output to the server --------------------------------------------------

    def emit(self, obj: dict[str, Any]) -> None:
        data = memoryview((_dumps(obj) + '\n').encode('utf-8', 'backslashreplace'))
        try:
            while data:
                data = data[os.write(1, data) :]
        except BrokenPipeError:
            self.exit_now()

    def final_simple(self, rid: Any, status: str = 'ok', **extra: Any) -> None:
        msg = {'type': 'final', 'id': rid, 'status': status}
        msg.update(extra)
        self.emit(msg)

    def bad_request(self, rid: Any, message: str) -> None:
        self.final_simple(rid, 'error', error={'code': 'bad_request', 'message': message})

    # --- kernel lifecycle --------------------------------------------------------

    def start_kernel(self) -> None:
        self.restart_at = None
        self.gen += 1
        try:
            k = KernelProc(self.workspace, self.gen)
        except OSError as e:
            log(f'cannot start kernel: {e}')
            self.failures += 1
            self.restart()
            return
        self.kernel = k
        self.sel.register(k.hello_fd, selectors.EVENT_READ, self._on_hello)
        if not self.ready_sent:
            self.send_ready()

    def _on_hello(self, fd: int) -> None:
        k = self.kernel
        data = read_now(fd, 16)
        if data is None:
            return
        try:
            self.sel.unregister(fd)
        except (KeyError, ValueError):
            pass
        if k is not None and k.hello_fd == fd:
            if data:
                k.ready = True
                self.failures = 0
            k.close_hello()
        else:
            os.close(fd)

    def _forget_hello(self, k: KernelProc | None) -> None:
        if k is not None and k.hello_fd is not None:
            try:
                self.sel.unregister(k.hello_fd)
            except (KeyError, ValueError):
                pass
            k.close_hello()

    def kill_everything(self, k: KernelProc | None) -> None:
        """SIGKILL the kernel and everything it started (the whole box when inside one)."""
        if self.in_box:
            self._sweep_box()
        elif k is not None:
            self._sweep_tree(k.pid)
        if k is not None:
            deadline = monotonic() + 2.0
            while k.status is None and monotonic() < deadline:
                self.reap()
                if k.status is None:
                    time.sleep(0.002)

    def _kill_until_gone(
        self,
        select: Callable[[_procs.Table], Iterable[int]],
        rounds: int,
        what: str,
        before: Callable[[], None] | None = None,
    ) -> None:
        """SIGKILL whatever select(table) names until nothing is left; bounded, since a fork bomb keeps forking."""
        for i in range(rounds):
            if before is not None:
                before()
            table = _proc_table()
            targets = [p for p in select(table) if p in table and table[p][0] != b'Z']
            if not targets:
                return
            for p in targets:
                try:
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass
            self.reap()
            time.sleep(min(0.001 * (i + 1), 0.02))
        log(f'processes survived the {what}')

    def _sweep_tree(self, kpid: int) -> None:
        me = self.pid

        def killpg() -> None:
            try:
                os.killpg(kpid, signal.SIGKILL)
            except OSError:
                pass

        def select(table: _procs.Table) -> set[int]:
            targets = _procs.descendants(table, [kpid, me], {me}) | _procs.members(table, [kpid])
            targets.discard(me)
            return targets - self._spared(table)

        self._kill_until_gone(select, 200, f'kill sweep of kernel {kpid}', before=killpg)

    def _sweep_box(self) -> None:
        # Decided once: while anything is spared, the sweep goes pid by pid instead of kill(-1).
        spare_any = bool(self._spared(_proc_table()))

        def kill_all() -> None:
            if spare_any:
                return
            try:
                os.kill(-1, signal.SIGKILL)  # everything in the namespace but us and its init
            except OSError:
                pass
            self.reap()

        def select(table: _procs.Table) -> list[int]:
            keep = {self.pid, 1} | self._spared(table)
            return [p for p in table if p not in keep]

        self._kill_until_gone(select, 500, 'box kill sweep', before=kill_all)

    def _spared(self, table: _procs.Table) -> set[int]:
        """What outlives a cell's timeout: managed web apps and what shell commands started, with their process groups,
        sessions and descendants."""
        roots = self.apps.spared_roots() | self.shells.spared_roots(table)
        return _procs.groups_and_descendants(table, roots)

    def kill_strays(self, k: KernelProc) -> None:
        """After a timeout or interrupt the kernel survived: kill what the cell left running (a fork bomb's copies)."""

        def select(table: _procs.Table) -> Iterable[int]:
            keep = {self.pid, 1, k.pid} | self._spared(table)
            if self.in_box:
                return [p for p in table if p not in keep]
            group = {pid for pid, (_s, _pp, pgrp, _sid) in table.items() if pgrp == k.pid}
            return (_procs.descendants(table, [k.pid], keep) | group) - keep

        self._kill_until_gone(select, 500, 'stray sweep')

    def reap(self) -> None:
        while True:
            try:
                pid, status, ru = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                return
            except InterruptedError:
                continue
            if pid == 0:
                return
            for k in (self.kernel, self._dying):
                if k is not None and pid == k.pid:
                    k.status = status
                    k.rusage = ru
                    k.proc.returncode = os.waitstatus_to_exitcode(status)
                    break
            else:
                self.shells.reaped(pid, status)
                self.apps.reaped(pid, status)

    def kill_kernel(self) -> KernelProc | None:
        """Kill the kernel and its processes on purpose and return it."""
        k = self.kernel
        self.kernel = None
        if k is not None:
            k.killed = True
            self._forget_hello(k)
        self._dying = k
        self.kill_everything(k)
        self._dying = None
        return k

    def report_exit(self, k: KernelProc) -> None:
        """Tells the server kernel k is gone, with how it ended and what it used in its whole life."""
        code = os.waitstatus_to_exitcode(k.status) if k.status is not None else -signal.SIGKILL
        ru = k.rusage
        self.emit(
            {
                'type': 'kernel_exit',
                'gen': k.gen,
                'pid': k.pid,
                'killed': k.killed,
                'ready': k.ready,
                'signal': -code if code < 0 else None,
                'exit_code': code if code >= 0 else None,
                'cpu_user_ms': round(ru.ru_utime * 1000, 3) if ru else None,
                'cpu_system_ms': round(ru.ru_stime * 1000, 3) if ru else None,
                'max_rss_kb': ru.ru_maxrss if ru else None,
            }
        )

    def restart(self) -> None:
        if self.failures:
            # Kernels keep dying (or failing to start) before they say hello: back off.
            self.restart_at = monotonic() + restart_delay(self.failures)
        else:
            self.start_kernel()

    def on_kernel_exit(self, k: KernelProc) -> None:
        """The kernel died by itself (a signal, the OOM killer, os._exit)."""
        self._forget_hello(k)
        self._dying = k
        self.kernel = None
        self.kill_everything(k)  # its orphans
        self._dying = None
        if not k.ready:
            self.failures += 1
            log(f'kernel {k.pid} exited during start-up (status {k.status})')
        self.report_exit(k)
        self.restart()
        if not self.ready_sent and self.failures >= 3:
            self.send_ready()

    # --- requests ----------------------------------------------------------------

    def _on_stdin(self, fd: int) -> None:
        data = read_now(0)
        if data is None:
            return
        if not data:
            self.sel.unregister(0)
            self.shutdown(None)
            return
        self.inbuf += data
        while True:
            i = self.inbuf.find(b'\n')
            if i < 0:
                break
            line = bytes(self.inbuf[:i])
            del self.inbuf[: i + 1]
            if line.strip():
                self.handle_request(line)

    def handle_request(self, line: bytes) -> None:
        try:
            req = json.loads(line)
        except ValueError as e:
            self.bad_request(None, f'not JSON: {e}')
            return
        if not isinstance(req, dict):
            self.bad_request(None, 'a request must be a JSON object')
            return
        rid = req.get('id')
        op = req.get('op')
        if op == 'kernel_interrupt':
            k = self.kernel
            if k is not None:
                try:
                    os.kill(k.pid, signal.SIGINT)
                except OSError:
                    pass
            self.final_simple(rid, 'ok', kernel_pid=k.pid if k is not None else None)
        elif op == 'kernel_kill':
            k = self.kill_kernel()
            if k is not None:
                self.report_exit(k)
            self.start_kernel()
            self.final_simple(rid, 'ok')
        elif op == 'kernel_strays':
            if self.kernel is not None:
                self.kill_strays(self.kernel)
            self.final_simple(rid, 'ok')
        elif op == 'interrupt':
            self.shells.interrupt(req.get('target'))
        elif op == 'info':
            self.final_simple(rid, 'ok', info=self.info())
        elif op == 'ping':
            self.final_simple(rid, 'ok')
        elif op in _apps.OPS:
            self.apps.handle(req)
        elif op == 'shell':
            self.shells.start(req)
        elif op == 'shutdown':
            self.shutdown(rid)
        elif op in ('execute', 'clear_cache'):
            self.bad_request(rid, f'{op} goes to the kernel on its own channel (fd {LANE_FD})')
        else:
            self.bad_request(rid, f'unknown op {op!r}')

    def info(self) -> dict[str, Any]:
        k = self.kernel
        return {
            'pid': self.pid,
            'kernel_pid': k.pid if k is not None else None,
            'kernel_gen': k.gen if k is not None else None,
            'workspace': self.workspace,
            'in_box': self.in_box,
        }

    def send_ready(self) -> None:
        self.ready_sent = True
        k = self.kernel
        self.emit(
            {
                'type': 'ready',
                'pid': self.pid,
                'kernel_pid': k.pid if k is not None else None,
                'kernel_gen': k.gen if k is not None else None,
                'python': '{}.{}.{}'.format(*sys.version_info[:3]),  # the kernel runs the same interpreter
                'restored': False,
            }
        )

    def teardown(self) -> None:
        """The agent is leaving: kill the apps, the kernel and everything it started, and what shell commands left."""
        self.apps.close()  # first, so the kill sweep takes the apps too
        self.kill_kernel()
        self.shells.kill_all()

    def shutdown(self, rid: Any) -> NoReturn:
        self.teardown()
        if rid is not None:
            self.final_simple(rid, 'ok')
        sys.exit(0)

    def exit_now(self) -> NoReturn:
        self.teardown()  # nobody reads stdout any more
        os._exit(0)

    def flush_streams(self, ex: _shell.Command, final: bool = False) -> None:
        """Sends a running shell command's new output as stream events."""
        for name in ('stdout', 'stderr'):
            text = ex.out[name].take_events(final)
            if text:
                self.emit({'type': 'stream', 'id': ex.id, 'name': name, 'text': text})
        ex.flush_at = None
        ex.last_flush = monotonic()

    # --- loop ------------------------------------------------------------------------

    def _on_wake(self, fd: int) -> None:
        try:
            while os.read(fd, 512):
                pass
        except OSError:
            pass

    def timers(self, now: float) -> None:
        self.shells.timers(now)
        if self.restart_at is not None and now >= self.restart_at and self.kernel is None:
            self.start_kernel()

    def next_timeout(self, now: float) -> float | None:
        when = []
        if self.restart_at is not None:
            when.append(self.restart_at)
        shell_at = self.shells.next_deadline()
        if shell_at is not None:
            when.append(shell_at)
        if not when:
            return None
        return max(0.0, min(when) - now)

    def run(self) -> NoReturn:
        self.start_kernel()
        select = self.sel.select
        while True:
            if self.stop is not None:
                self.shutdown(None)
            events = select(self.next_timeout(monotonic()))
            for key, _mask in events:
                key.data(key.fd)
            self.reap()
            k = self.kernel
            if k is not None and k.status is not None:
                self.on_kernel_exit(k)
            self.timers(monotonic())


def _start_net_relay() -> None:
    # The allowlist proxy is a Unix socket bound into the box; programs speak TCP, so the relay thread bridges them.
    try:
        _netrelay.start_from_env()
    except Exception as e:
        log(f'network relay not started: {e}')


def main() -> None:
    # First: code in the box runs as the agent's uid and could otherwise write the agent's memory through /proc.
    forbid_dumping()
    _apply_rlimits()
    _set_child_subreaper()
    _start_net_relay()
    agent = Agent()
    try:
        agent.run()
    except SystemExit:
        raise
    except BaseException:
        import traceback

        log('agent crashed:\n' + traceback.format_exc())
        agent.teardown()
        os._exit(1)


if __name__ == '__main__':
    main()
