# In-box supervisor: speaks docs/AGENT_PROTOCOL.md on stdin/stdout; starts, interrupts, kills and restarts kernel.py, runs shells and apps.
import codecs
import json
import os
import resource
import selectors
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
KERNEL_PY = os.path.join(HERE, 'kernel.py')
sys.path.insert(0, HERE)  # -I leaves the agent's folder off sys.path
import procs as _procs  # noqa: E402
import shell as _shell  # noqa: E402
import apps as _apps  # noqa: E402
import netrelay as _netrelay  # noqa: E402
del sys.path[0]

READ_CHUNK = 1 << 16
# Passed by the server to the agent and on to every kernel (docs/AGENT_PROTOCOL.md): the lane is a socket carrying
# the server's requests to the kernel and the kernel's events back; the other two are the kernel's stdout and stderr.
LANE_FD = 4
KOUT_FD = 5
KERR_FD = 6

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(',', ':')).encode
# A pooled box's library set (src/agent/preload.py), for its first kernel only; kept out of every child's environment.
PRELOAD = os.environ.pop('SANDBOX_PRELOAD', '')
monotonic = time.monotonic


def log(msg):
    try:
        os.write(2, ('sandbox-agent: %s\n' % msg).encode('utf-8', 'replace'))
    except OSError:
        pass


def _apply_rlimits():
    for env, which in (('SANDBOX_RLIMIT_FSIZE', resource.RLIMIT_FSIZE), ('SANDBOX_RLIMIT_NOFILE', resource.RLIMIT_NOFILE)):
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
            log('cannot apply %s=%s: %s' % (env, raw, e))


def _set_child_subreaper():
    # Orphans of the kernel then come back to the agent, so they can still be found and reaped.
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except Exception:
        pass


def _pid1_is_docker_init():
    try:
        with open('/proc/1/cmdline', 'rb') as f:
            return f.read().split(b'\0')[:4] == [b'/usr/bin/python3', b'-I', b'-u', b'/opt/sandbox-agent/docker_init.py']
    except OSError:
        return False


def _box_mode():
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


def _descendants(table, roots, exclude):
    """Every pid below roots in the parent links of table, skipping (and not descending into) exclude."""
    children = {}
    for pid, (_state, ppid, _pgrp, _sid) in table.items():
        children.setdefault(ppid, []).append(pid)
    found, todo = set(), list(roots)
    while todo:
        for c in children.get(todo.pop(), ()):
            if c not in exclude and c not in found:
                found.add(c)
                todo.append(c)
    return found


class Capture:
    """One output stream of one request: head and tail kept, events capped, all of it saved to a
    file once it outgrows the cap."""

    def __init__(self, name, cap, label, workspace):
        self.name = name
        self.cap = cap
        self.head_n = cap // 2
        self.tail_n = cap - cap // 2
        self.label = label
        self.workspace = workspace
        self.buf = bytearray()  # everything, until the cap is passed
        self.head = b''
        self.tail = None
        self.total = 0
        self.file = None
        self.saved_path = None
        self.ev_left = cap
        self.pending = bytearray()
        self.decoder = codecs.getincrementaldecoder('utf-8')('replace')

    def feed(self, data):
        self.total += len(data)
        if self.tail is None:
            self.buf += data
            if len(self.buf) > self.cap:
                self._spill()
        else:
            self._save(data)
            tail = self.tail
            tail += data
            if len(tail) > 2 * self.tail_n + READ_CHUNK:
                del tail[: len(tail) - self.tail_n]
        if self.ev_left > 0:
            take = data[: self.ev_left]
            self.pending += take
            self.ev_left -= len(take)

    def _spill(self):
        buf = self.buf
        self.head = bytes(buf[: self.head_n])
        self.tail = bytearray(buf[len(buf) - self.tail_n :]) if self.tail_n else bytearray()
        rel = os.path.join('.sandbox', 'outputs', '%s.%s.txt' % (self.label, self.name))
        try:
            os.makedirs(os.path.join(self.workspace, '.sandbox', 'outputs'), exist_ok=True)
            self.file = open(os.path.join(self.workspace, rel), 'wb')
            self.saved_path = rel
        except OSError as e:
            log('cannot save %s: %s' % (rel, e))
        self._save(buf)
        self.buf = None

    def _save(self, data):
        if self.file is None:
            return
        try:
            self.file.write(data)
        except OSError as e:
            # A full disk or RLIMIT_FSIZE: the file keeps what fitted.
            log('saving %s stopped: %s' % (self.saved_path, e))
            self._close()

    def _close(self):
        if self.file is not None:
            try:
                self.file.close()
            except OSError:
                pass
            self.file = None

    def take_events(self, final=False):
        if not self.pending and not final:
            return ''
        text = self.decoder.decode(bytes(self.pending), final)
        self.pending.clear()
        return text

    def result(self):
        self._close()
        if self.tail is None:
            return {'text': self.buf.decode('utf-8', 'replace'), 'truncated': False, 'bytes': self.total, 'saved_path': None}
        tail = bytes(self.tail[len(self.tail) - self.tail_n :]) if self.tail_n else b''
        head_text = codecs.getincrementaldecoder('utf-8')('replace').decode(self.head, False)
        i = 0
        while i < 3 and i < len(tail) and (tail[i] & 0xC0) == 0x80:
            i += 1  # do not start inside a character
        omitted = self.total - len(self.head) - len(tail)
        text = '%s\n…[%d bytes omitted]…\n%s' % (head_text, omitted, tail[i:].decode('utf-8', 'replace'))
        return {'text': text, 'truncated': True, 'bytes': self.total, 'saved_path': self.saved_path}


class KernelProc:
    """One kernel process. Its stdout and stderr are the server's output sockets and it speaks JSON lines with the
    server on the lane socket: the agent only starts, signals, kills and reaps it."""

    def __init__(self, workspace, gen):
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
        self.hello_fd = hello_r  # the kernel writes one byte once it serves, then closes it
        self.ready = False
        self.status = None  # wait status once reaped
        self.rusage = None  # its whole life's, from wait4
        self.killed = False

    def close_hello(self):
        if self.hello_fd is not None:
            try:
                os.close(self.hello_fd)
            except OSError:
                pass
            self.hello_fd = None


class Agent:
    def __init__(self):
        self.workspace = os.path.abspath(os.environ.get('SANDBOX_WORKSPACE') or os.getcwd())
        self.in_box = _box_mode()
        self.pid = os.getpid()
        self.sel = selectors.DefaultSelector()
        self.kernel = None
        self.gen = 0  # kernels started so far; the lane's hello carries it
        self.inbuf = bytearray()
        self.ready_sent = False
        self.failures = 0  # kernels in a row that died before saying hello
        self.restart_at = None
        self.stop = None  # set by a signal handler
        self._dying = None  # a kernel being killed on purpose, still to be reaped
        self.shells = _shell.Shells(self, Capture)  # op 'shell'
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

    def _on_stop_signal(self, signum, frame):
        self.stop = signum

    # --- output to the server --------------------------------------------------

    def emit(self, obj):
        data = memoryview((_dumps(obj) + '\n').encode('utf-8', 'backslashreplace'))
        try:
            while data:
                data = data[os.write(1, data) :]
        except BrokenPipeError:
            self.exit_now()

    def final_simple(self, rid, status='ok', **extra):
        msg = {'type': 'final', 'id': rid, 'status': status}
        msg.update(extra)
        self.emit(msg)

    def bad_request(self, rid, message):
        self.final_simple(rid, 'error', error={'code': 'bad_request', 'message': message})

    # --- kernel lifecycle --------------------------------------------------------

    def start_kernel(self):
        self.restart_at = None
        self.gen += 1
        try:
            k = KernelProc(self.workspace, self.gen)
        except OSError as e:
            log('cannot start kernel: %s' % e)
            self.failures += 1
            self.restart_at = monotonic() + min(0.2 * 2 ** (self.failures - 1), 5.0)
            return
        self.kernel = k
        self.sel.register(k.hello_fd, selectors.EVENT_READ, self._on_hello)
        if not self.ready_sent:
            self.send_ready()

    def _on_hello(self, fd):
        k = self.kernel
        try:
            data = os.read(fd, 16)
        except BlockingIOError:
            return
        except OSError:
            data = b''
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

    def _forget_hello(self, k):
        if k is not None and k.hello_fd is not None:
            try:
                self.sel.unregister(k.hello_fd)
            except (KeyError, ValueError):
                pass
            k.close_hello()

    def kill_everything(self, k):
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

    def _kill_until_gone(self, select, rounds, what, before=None):
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
        log('processes survived the %s' % what)

    def _sweep_tree(self, kpid):
        me = self.pid

        def killpg():
            try:
                os.killpg(kpid, signal.SIGKILL)
            except OSError:
                pass

        def select(table):
            targets = _descendants(table, [kpid, me], {me})
            targets.update(pid for pid, (_s, _pp, pgrp, sid) in table.items() if pgrp == kpid or sid == kpid)
            targets.discard(me)
            return targets - self._spared(table)

        self._kill_until_gone(select, 200, 'kill sweep of kernel %d' % kpid, before=killpg)

    def _sweep_box(self):
        # Decided once: while anything is spared, the sweep goes pid by pid instead of kill(-1).
        spare_any = bool(self._spared(_proc_table()))

        def kill_all():
            if spare_any:
                return
            try:
                os.kill(-1, signal.SIGKILL)  # everything in the namespace but us and its init
            except OSError:
                pass
            self.reap()

        def select(table):
            keep = {self.pid, 1} | self._spared(table)
            return [p for p in table if p not in keep]

        self._kill_until_gone(select, 500, 'box kill sweep', before=kill_all)

    def _spared(self, table):
        """What outlives a cell's timeout: managed web apps and what shell commands started, with their process groups,
        sessions and descendants."""
        roots = self.apps.spared_roots() | self.shells.spared_roots(table)
        return _procs.groups_and_descendants(table, roots)

    def kill_strays(self, k):
        """After a timeout or interrupt the kernel survived: kill what the cell left running (a fork bomb's copies)."""

        def select(table):
            keep = {self.pid, 1, k.pid} | self._spared(table)
            if self.in_box:
                return [p for p in table if p not in keep]
            found = _descendants(table, [k.pid], keep)
            found.update(pid for pid, (_s, _pp, pgrp, _sid) in table.items() if pgrp == k.pid and pid not in keep)
            return found

        self._kill_until_gone(select, 500, 'stray sweep')

    def reap(self):
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

    def kill_kernel(self):
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

    def report_exit(self, k):
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

    def restart(self):
        if self.failures:
            # Kernels keep dying before they say hello: back off.
            self.restart_at = monotonic() + min(0.2 * 2 ** (self.failures - 1), 5.0)
        else:
            self.start_kernel()

    def on_kernel_exit(self, k):
        """The kernel died by itself (a signal, the OOM killer, os._exit)."""
        self._forget_hello(k)
        self._dying = k
        self.kernel = None
        self.kill_everything(k)  # its orphans
        self._dying = None
        if not k.ready:
            self.failures += 1
            log('kernel %d exited during start-up (status %s)' % (k.pid, k.status))
        self.report_exit(k)
        self.restart()
        if not self.ready_sent and self.failures >= 3:
            self.send_ready()

    # --- requests ----------------------------------------------------------------

    def _on_stdin(self, fd):
        try:
            data = os.read(0, READ_CHUNK)
        except BlockingIOError:
            return
        except OSError:
            data = b''
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

    def handle_request(self, line):
        try:
            req = json.loads(line)
        except ValueError as e:
            self.bad_request(None, 'not JSON: %s' % e)
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
            self.bad_request(rid, '%s goes to the kernel on its own channel (fd %d)' % (op, LANE_FD))
        else:
            self.bad_request(rid, 'unknown op %r' % (op,))

    def info(self):
        k = self.kernel
        return {
            'pid': self.pid,
            'kernel_pid': k.pid if k is not None else None,
            'kernel_gen': k.gen if k is not None else None,
            'workspace': self.workspace,
            'in_box': self.in_box,
        }

    def send_ready(self):
        self.ready_sent = True
        k = self.kernel
        self.emit(
            {
                'type': 'ready',
                'pid': self.pid,
                'kernel_pid': k.pid if k is not None else None,
                'kernel_gen': k.gen if k is not None else None,
                'python': '%d.%d.%d' % sys.version_info[:3],  # the kernel runs the same interpreter
                'restored': False,
            }
        )

    def teardown(self):
        """The agent is leaving: kill the apps, the kernel and everything it started, and what shell commands left."""
        self.apps.close()  # first, so the kill sweep takes the apps too
        self.kill_kernel()
        self.shells.kill_all()

    def shutdown(self, rid):
        self.teardown()
        if rid is not None:
            self.final_simple(rid, 'ok')
        sys.exit(0)

    def exit_now(self):
        self.teardown()  # nobody reads stdout any more
        os._exit(0)

    def flush_streams(self, ex, final=False):
        """Sends a running shell command's new output as stream events."""
        for name in ('stdout', 'stderr'):
            text = ex.out[name].take_events(final)
            if text:
                self.emit({'type': 'stream', 'id': ex.id, 'name': name, 'text': text})
        ex.flush_at = None
        ex.last_flush = monotonic()

    # --- loop ------------------------------------------------------------------------

    def _on_wake(self, fd):
        try:
            while os.read(fd, 512):
                pass
        except OSError:
            pass

    def timers(self, now):
        self.shells.timers(now)
        if self.restart_at is not None and now >= self.restart_at and self.kernel is None:
            self.start_kernel()

    def next_timeout(self, now):
        when = []
        if self.restart_at is not None:
            when.append(self.restart_at)
        shell_at = self.shells.next_deadline()
        if shell_at is not None:
            when.append(shell_at)
        if not when:
            return None
        return max(0.0, min(when) - now)

    def run(self):
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


def _start_net_relay():
    # The allowlist proxy is a Unix socket bound into the box; programs speak TCP, so a relay thread bridges them.
    try:
        _netrelay.start_from_env(log)
    except Exception as e:
        log('network relay not started: %s' % e)


def main():
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
