# In-box supervisor: speaks docs/AGENT_PROTOCOL.md on stdin/stdout and runs, interrupts, kills and restarts kernel.py.
import codecs
import fcntl
import json
import os
import resource
import selectors
import signal
import subprocess
import sys
import time
from collections import deque

HERE = os.path.dirname(os.path.abspath(__file__))
KERNEL_PY = os.path.join(HERE, 'kernel.py')
sys.path.insert(0, HERE)  # -I leaves the agent's folder off sys.path
import procs as _procs  # noqa: E402
import shell as _shell  # noqa: E402
import apps as _apps  # noqa: E402
import netrelay as _netrelay  # noqa: E402
del sys.path[0]

BATCH_S = 0.1
READ_CHUNK = 1 << 16
DRAIN_BUDGET = 8 << 20  # bytes read from one pipe per wake-up, so one flood cannot starve the rest
PIPE_SIZE = 1 << 20  # fewer wake-ups when a program prints a lot
DEFAULT_GRACE_MS = 2000
DEFAULT_CAP = 32768
EV_EOF_GRACE_S = 0.5  # a kernel whose event pipe closed gets this long to be reaped before it is killed
STRAY_KEEP = 4096  # kernel stderr kept while it starts, to explain a kernel that cannot start

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(',', ':')).encode
monotonic = time.monotonic


def log(msg):
    try:
        os.write(2, ('sandbox-agent: %s\n' % msg).encode('utf-8', 'replace'))
    except OSError:
        pass


def _grow_pipe(fd):
    try:
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
    except (OSError, AttributeError):
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


class Exec:
    def __init__(self, req, workspace, now):
        self.id = req.get('id')
        self.code = req['code']
        count = req.get('execution_count')
        self.count = count if isinstance(count, int) and not isinstance(count, bool) else None
        timeout_ms = req.get('timeout_ms')
        grace_ms = req.get('grace_ms')
        cap = req.get('output_cap')
        self.grace_s = (grace_ms if isinstance(grace_ms, (int, float)) and grace_ms >= 0 else DEFAULT_GRACE_MS) / 1000.0
        cap = int(cap) if isinstance(cap, (int, float)) and cap >= 0 else DEFAULT_CAP
        label = str(self.count) if self.count is not None else ''.join(c for c in str(self.id) if c.isalnum() or c in '-_')[:64] or 'x'
        self.out = {'stdout': Capture('stdout', cap, label, workspace), 'stderr': Capture('stderr', cap, label, workspace)}
        self.t0 = now
        self.deadline = now + timeout_ms / 1000.0 if isinstance(timeout_ms, (int, float)) and timeout_ms > 0 else None
        self.grace_deadline = None
        self.reason = None  # 'timeout' or 'interrupted' once SIGINT was sent
        self.flush_at = None
        self.last_flush = now  # the first batch waits too, so a quick cell sends one event per stream
        self.rc0 = resource.getrusage(resource.RUSAGE_CHILDREN)


class KernelProc:
    def __init__(self, workspace):
        req_r, req_w = os.pipe()
        ev_r, ev_w = os.pipe()
        env = dict(os.environ)
        env['MPLBACKEND'] = 'Agg'
        try:
            self.proc = subprocess.Popen(
                [sys.executable, '-I', '-u', KERNEL_PY, str(req_r), str(ev_w)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=(req_r, ev_w),
                start_new_session=True,
                cwd=workspace,
                env=env,
            )
        finally:
            os.close(req_r)
            os.close(ev_w)
        self.pid = self.proc.pid
        self.req_fd = req_w
        self.ev_fd = ev_r
        self.out_fd = self.proc.stdout.fileno()
        self.err_fd = self.proc.stderr.fileno()
        for fd in (self.out_fd, self.err_fd):
            _grow_pipe(fd)
        for fd in (self.ev_fd, self.out_fd, self.err_fd):
            os.set_blocking(fd, False)
        self.ev_buf = bytearray()
        self.started = monotonic()
        self.ready = False
        self.status = None  # wait status once reaped
        self.cpu_total_ms = 0.0
        self.stray = bytearray()
        self.killed = False
        self.ev_closed_at = None
        self.open_fds = {self.ev_fd, self.out_fd, self.err_fd}

    def close(self):
        for f in (self.proc.stdout, self.proc.stderr):
            try:
                f.close()
            except OSError:
                pass
        for fd in (self.req_fd, self.ev_fd):
            try:
                os.close(fd)
            except OSError:
                pass


class Agent:
    def __init__(self):
        self.workspace = os.path.abspath(os.environ.get('SANDBOX_WORKSPACE') or os.getcwd())
        self.in_box = _box_mode()
        self.pid = os.getpid()
        self.sel = selectors.DefaultSelector()
        self.kernel = None
        self.active = None
        self.queue = deque()
        self.info_waiters = []  # request ids asked of the kernel
        self.info_cache = {}
        self.last_count = None
        self.inbuf = bytearray()
        self.ready_sent = False
        self.failures = 0  # kernels in a row that died before saying hello
        self.restart_at = None
        self.stop = None  # set by a signal handler
        self._dying = None  # a kernel being killed on purpose, still to be reaped
        self.shells = _shell.Shells(self, Capture)  # op 'shell'
        self.apps = _apps.AppManager(self)  # ops app_start, app_stop, app_probe
        self.kernel_calls = set()  # ids the kernel answers with a 'reply' (clear_cache)

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
        try:
            k = KernelProc(self.workspace)
        except OSError as e:
            log('cannot start kernel: %s' % e)
            self.failures += 1
            self.restart_at = monotonic() + min(0.2 * 2 ** (self.failures - 1), 5.0)
            return
        self.kernel = k
        self.sel.register(k.ev_fd, selectors.EVENT_READ, self._on_kernel_events)
        self.sel.register(k.out_fd, selectors.EVENT_READ, self._on_stdout)
        self.sel.register(k.err_fd, selectors.EVENT_READ, self._on_stderr)
        self.pump()

    def _detach_kernel(self, k):
        """Read what the kernel left in its pipes, then stop watching them."""
        self._read_events(k)
        self._drain(k, k.out_fd, 'stdout')
        self._drain(k, k.err_fd, 'stderr')
        for fd in list(k.open_fds):
            try:
                self.sel.unregister(fd)
            except (KeyError, ValueError):
                pass
        k.open_fds.clear()
        k.close()
        if self.kernel is k:
            self.kernel = None

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
            return targets - self.apps.protected(table)  # managed web apps outlive a cell's timeout

        self._kill_until_gone(select, 200, 'kill sweep of kernel %d' % kpid, before=killpg)

    def _sweep_box(self):
        def kill_all():
            if self.apps.apps:
                return  # managed web apps outlive a cell's timeout: then pid by pid
            try:
                os.kill(-1, signal.SIGKILL)  # everything in the namespace but us and its init
            except OSError:
                pass
            self.reap()

        def select(table):
            keep = {self.pid, 1} | self.apps.protected(table)
            return [p for p in table if p not in keep]

        self._kill_until_gone(select, 500, 'box kill sweep', before=kill_all)

    def kill_strays(self, k):
        """After a timeout or interrupt the kernel survived: kill what the cell left running (a fork bomb's copies)."""

        def select(table):
            keep = {self.pid, 1, k.pid} | self.apps.protected(table)
            if self.in_box:
                return [p for p in table if p not in keep]
            found = _descendants(table, [k.pid], keep)
            found.update(pid for pid, (_s, _pp, pgrp, _sid) in table.items() if pgrp == k.pid and pid not in keep)
            return found

        self._kill_until_gone(select, 500, 'stray sweep')

    def reap(self):
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            except InterruptedError:
                continue
            if pid == 0:
                return
            k = self.kernel
            if k is not None and pid == k.pid:
                k.status = status
                k.proc.returncode = os.waitstatus_to_exitcode(status)
            elif self._dying is not None and pid == self._dying.pid:
                self._dying.status = status
                self._dying.proc.returncode = os.waitstatus_to_exitcode(status)
            else:
                self.shells.reaped(pid, status)
                self.apps.reaped(pid, status)

    def kill_kernel(self, detach=True):
        """Kill the kernel and its processes on purpose and return it; detach also reads what it left in its pipes."""
        k = self.kernel
        self.kernel = None
        if k is not None:
            k.killed = True  # from now on its 'done' cannot mean the state survived
        self._dying = k
        self.kill_everything(k)
        if k is not None and detach:
            self._detach_kernel(k)
        self._dying = None
        return k

    def replace_kernel(self, k, sig=None, exit_code=None):
        """Kernel k is gone: end the running request, answer whatever waited on k, and start the next kernel."""
        ex = self.active
        if ex is not None:
            self.finish(
                ex,
                ex.reason or 'killed',
                state_preserved=False,
                kernel_restarted=True,
                sig=sig,
                exit_code=exit_code,
                usage=self._usage_after_death(ex, k),
            )
        self._answer_info_from_cache()
        if self.failures:
            # Kernels keep dying before they say hello: back off.
            self.restart_at = monotonic() + min(0.2 * 2 ** (self.failures - 1), 5.0)
        else:
            self.start_kernel()

    def on_kernel_exit(self, k):
        """The kernel died by itself (a signal, the OOM killer, os._exit)."""
        code = os.waitstatus_to_exitcode(k.status)
        self._dying = k
        self.kernel = None  # so a 'done' still in the pipe cannot dispatch the next request to it
        self._detach_kernel(k)  # a 'done' written just before death is still honoured
        self.kill_everything(k)  # its orphans
        self._dying = None
        if not k.ready:
            self.failures += 1
            if k.stray:
                log('kernel exited during start-up (%s): %s' % (code, k.stray.decode('utf-8', 'replace')))
        self.replace_kernel(k, sig=-code if code < 0 else None, exit_code=code if code >= 0 else None)
        if not self.ready_sent and self.failures >= 3:
            self.send_ready()

    def _usage_after_death(self, ex, k):
        rc1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        rc0 = ex.rc0
        user = (rc1.ru_utime - rc0.ru_utime) * 1000
        system = (rc1.ru_stime - rc0.ru_stime) * 1000
        # The delta holds the dead kernel's whole life; remove what earlier requests used.
        before = k.cpu_total_ms if k is not None else 0.0
        total = user + system
        if total > 0 and before > 0:
            keep = max(total - before, 0.0) / total
            user *= keep
            system *= keep
        return {'cpu_user_ms': round(user, 3), 'cpu_system_ms': round(system, 3), 'max_rss_kb': rc1.ru_maxrss}

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
        if op == 'execute':
            if not isinstance(req.get('code'), str):
                self.bad_request(rid, 'execute needs a string "code"')
                return
            self.queue.append(req)
            self.pump()
        elif op == 'interrupt':
            self.interrupt(req.get('target'))
        elif op == 'info':
            self.info(rid)
        elif op == 'ping':
            self.final_simple(rid, 'ok')
        elif op in _apps.OPS:
            self.apps.handle(req)
        elif op == 'shell':
            self.shells.start(req)
        elif op == 'clear_cache':
            self.call_kernel(rid, req)
        elif op == 'shutdown':
            self.shutdown(rid)
        else:
            self.bad_request(rid, 'unknown op %r' % (op,))

    def pump(self):
        if self.active is not None or not self.queue or self.kernel is None:
            return
        req = self.queue.popleft()
        ex = Exec(req, self.workspace, monotonic())
        self.active = ex
        if ex.count is not None:
            self.last_count = ex.count
        self.send_kernel({'op': 'execute', 'id': ex.id, 'code': ex.code, 'execution_count': ex.count})

    def send_kernel(self, obj):
        k = self.kernel
        if k is None:
            return  # none: it died or is being replaced
        data = memoryview((_dumps(obj) + '\n').encode('utf-8', 'surrogatepass'))
        try:
            while data:
                data = data[os.write(k.req_fd, data) :]
        except OSError:
            pass  # it died; reaping reports it

    def interrupt(self, target):
        if self.shells.interrupt(target):
            return
        ex = self.active
        if ex is not None and (target is None or target == ex.id):
            self.send_sigint(ex, 'interrupted')
            return
        for req in self.queue:
            if req.get('id') == target:
                self.queue.remove(req)
                self.final_simple(
                    target,
                    'interrupted',
                    execution_count=req.get('execution_count'),
                    duration_ms=0.0,
                    stdout=_empty_stream(),
                    stderr=_empty_stream(),
                    state_preserved=True,
                    kernel_restarted=False,
                    signal=None,
                    usage=None,
                    error=None,
                )
                return

    def send_sigint(self, ex, reason):
        if ex.reason is not None:
            return
        ex.reason = reason
        ex.grace_deadline = monotonic() + ex.grace_s
        if self.kernel is not None:
            try:
                os.kill(self.kernel.pid, signal.SIGINT)
            except OSError:
                pass

    def info(self, rid):
        k = self.kernel
        if k is not None and self.active is None and k.ready:
            self.info_waiters.append(rid)
            self.send_kernel({'op': 'info', 'id': rid})
        else:
            self.final_simple(rid, 'ok', info=self._info_from(self.info_cache, busy=True))

    def _info_from(self, kinfo, busy=False):
        info = dict(kinfo)
        k = self.kernel
        info.update(
            {
                'pid': self.pid,
                'kernel_pid': k.pid if k is not None else None,
                'workspace': self.workspace,
                'execution_count': self.last_count,
                'in_box': self.in_box,
            }
        )
        if busy:
            info['stale'] = True  # the kernel is busy; this is what it said last
        return info

    def _answer_info_from_cache(self):
        waiters, self.info_waiters = self.info_waiters, []
        for rid in waiters:
            self.final_simple(rid, 'ok', info=self._info_from(self.info_cache, busy=True))
        calls, self.kernel_calls = self.kernel_calls, set()
        for rid in calls:
            self.final_simple(rid, 'error', error={'code': 'kernel_restarted', 'message': 'the Python kernel stopped before it answered'})

    def call_kernel(self, rid, req):
        """Forwards a request the kernel answers with a 'reply'; it reads its requests in order, so this waits for a running cell."""
        if self.kernel is None:
            self.final_simple(rid, 'error', error={'code': 'kernel_restarting', 'message': 'the Python kernel is restarting; try again'})
            return
        self.kernel_calls.add(rid)
        self.send_kernel(dict(req, workspace=self.workspace))

    def send_ready(self):
        self.ready_sent = True
        k = self.kernel
        self.emit(
            {
                'type': 'ready',
                'pid': self.pid,
                'kernel_pid': k.pid if k is not None else None,
                'python': '%d.%d.%d' % sys.version_info[:3],  # the kernel runs the same interpreter
                'restored': False,
            }
        )

    def teardown(self, detach):
        """The agent is leaving: kill the apps, the kernel and everything it started, and what shell commands left."""
        self.apps.close()  # first, so the kill sweep takes the apps too
        self.kill_kernel(detach)
        self.shells.kill_all()

    def shutdown(self, rid):
        self.teardown(detach=True)
        ex = self.active
        if ex is not None:
            self.finish(ex, ex.reason or 'interrupted', state_preserved=False, kernel_restarted=False)
        while self.queue:
            req = self.queue.popleft()
            self.final_simple(req.get('id'), 'interrupted', state_preserved=False, kernel_restarted=False)
        self._answer_info_from_cache()
        if rid is not None:
            self.final_simple(rid, 'ok')
        sys.exit(0)

    def exit_now(self):
        self.teardown(detach=False)  # nobody reads stdout any more
        os._exit(0)

    # --- kernel output -------------------------------------------------------------

    def _on_stdout(self, fd):
        self._drain(self.kernel, fd, 'stdout')

    def _on_stderr(self, fd):
        self._drain(self.kernel, fd, 'stderr')

    def _drain(self, k, fd, name):
        if k is None or fd not in k.open_fds:
            return
        ex = self.active
        budget = DRAIN_BUDGET
        while budget > 0:
            try:
                data = os.read(fd, READ_CHUNK)
            except BlockingIOError:
                return
            except OSError:
                data = b''
            if not data:
                k.open_fds.discard(fd)
                try:
                    self.sel.unregister(fd)
                except (KeyError, ValueError):
                    pass
                return
            budget -= len(data)
            if ex is not None:
                cap = ex.out[name]
                cap.feed(data)
                if cap.pending and ex.flush_at is None:
                    ex.flush_at = max(monotonic(), ex.last_flush + BATCH_S)
            elif not k.ready and name == 'stderr':
                k.stray += data
                del k.stray[: max(0, len(k.stray) - STRAY_KEEP)]
            # Output between requests (background threads, daemons) belongs to no request.

    def flush_streams(self, ex, final=False):
        for name in ('stdout', 'stderr'):
            text = ex.out[name].take_events(final)
            if text:
                self.emit({'type': 'stream', 'id': ex.id, 'name': name, 'text': text})
        ex.flush_at = None
        ex.last_flush = monotonic()

    def _on_kernel_events(self, fd):
        self._read_events(self.kernel)

    def _read_events(self, k):
        if k is None or k.ev_fd not in k.open_fds:
            return
        while True:
            try:
                data = os.read(k.ev_fd, READ_CHUNK)
            except BlockingIOError:
                break
            except OSError:
                data = b''
            if not data:
                k.open_fds.discard(k.ev_fd)
                k.ev_closed_at = monotonic()
                try:
                    self.sel.unregister(k.ev_fd)
                except (KeyError, ValueError):
                    pass
                break
            k.ev_buf += data
        buf = k.ev_buf
        start = 0
        while True:
            i = buf.find(b'\n', start)
            if i < 0:
                break
            line = bytes(buf[start:i])
            start = i + 1
            try:
                msg = json.loads(line)
            except ValueError:
                log('bad kernel event: %r' % line[:200])
                continue
            self.on_kernel_message(k, msg)
        del buf[:start]

    def on_kernel_message(self, k, msg):
        t = msg.get('type')
        ex = self.active
        if t in ('display_data', 'execute_result'):
            if ex is not None and msg.get('id') == ex.id:
                # Output printed before the display must reach the server before it.
                self._drain(k, k.out_fd, 'stdout')
                self._drain(k, k.err_fd, 'stderr')
                self.flush_streams(ex)
                self.emit(msg)
        elif t == 'done':
            if ex is not None and msg.get('id') == ex.id and not k.killed:
                self._drain(k, k.out_fd, 'stdout')
                self._drain(k, k.err_fd, 'stderr')
                if isinstance(msg.get('cpu_total_ms'), (int, float)):
                    k.cpu_total_ms = msg['cpu_total_ms']
                status = msg.get('status') or 'ok'
                if ex.reason is not None:
                    status = ex.reason
                    self.kill_strays(k)
                    self.send_kernel({'op': 'reap'})
                self.finish(ex, status, error=msg.get('error'), usage=msg.get('usage'))
        elif t == 'hello':
            k.ready = True
            self.failures = 0
            info = msg.get('info') or {}
            self.info_cache.update(info)
            if not self.ready_sent:
                self.send_ready()
        elif t == 'info':
            rid = msg.get('id')
            self.info_cache.update(msg.get('info') or {})
            if rid in self.info_waiters:
                self.info_waiters.remove(rid)
                self.final_simple(rid, 'ok', info=self._info_from(msg.get('info') or {}))
        elif t == 'reply':
            rid = msg.get('id')
            if rid in self.kernel_calls:
                self.kernel_calls.discard(rid)
                self.final_simple(rid, 'ok', result=msg.get('result'))

    def finish(self, ex, status, error=None, usage=None, state_preserved=True, kernel_restarted=False, sig=None, exit_code=None):
        self.flush_streams(ex, final=True)
        if error:
            self.emit({'type': 'error', 'id': ex.id, 'error': error})
        final = {
            'type': 'final',
            'id': ex.id,
            'status': status,
            'execution_count': ex.count,
            'duration_ms': round((monotonic() - ex.t0) * 1000, 3),
            'stdout': ex.out['stdout'].result(),
            'stderr': ex.out['stderr'].result(),
            'state_preserved': state_preserved,
            'kernel_restarted': kernel_restarted,
            'signal': sig,
            'usage': usage,
            'error': error or None,
        }
        if exit_code is not None:
            final['exit_code'] = exit_code
        self.active = None
        self.emit(final)
        self.pump()

    # --- loop ------------------------------------------------------------------------

    def _on_wake(self, fd):
        try:
            while os.read(fd, 512):
                pass
        except OSError:
            pass

    def timers(self, now):
        self.shells.timers(now)
        ex = self.active
        if ex is not None:
            if ex.deadline is not None and ex.reason is None and now >= ex.deadline:
                self.send_sigint(ex, 'timeout')
            if ex.grace_deadline is not None and now >= ex.grace_deadline and self.active is ex:
                self._read_events(self.kernel)  # a 'done' that just arrived still wins
            if ex.grace_deadline is not None and now >= ex.grace_deadline and self.active is ex:
                self.replace_kernel(self.kill_kernel())
                return
            if ex.flush_at is not None and now >= ex.flush_at:
                self.flush_streams(ex)
        if self.restart_at is not None and now >= self.restart_at and self.kernel is None:
            self.start_kernel()

    def next_timeout(self, now):
        when = []
        ex = self.active
        if ex is not None:
            if ex.deadline is not None and ex.reason is None:
                when.append(ex.deadline)
            if ex.grace_deadline is not None:
                when.append(ex.grace_deadline)
            if ex.flush_at is not None:
                when.append(ex.flush_at)
        if self.restart_at is not None:
            when.append(self.restart_at)
        shell_at = self.shells.next_deadline()
        if shell_at is not None:
            when.append(shell_at)
        k = self.kernel
        if k is not None and k.ev_closed_at is not None:
            when.append(k.ev_closed_at + EV_EOF_GRACE_S + 0.01)
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
            k = self.kernel
            if k is not None:
                self.reap()
                if k.status is not None and self.kernel is k:
                    self.on_kernel_exit(k)
                elif k.ev_closed_at is not None and monotonic() - k.ev_closed_at > EV_EOF_GRACE_S and self.kernel is k:
                    # Its event pipe closed yet it lives on (user code closed fd 4): it can never answer again.
                    self.replace_kernel(self.kill_kernel())
            else:
                self.reap()
            self.timers(monotonic())


def _empty_stream():
    return {'text': '', 'truncated': False, 'bytes': 0, 'saved_path': None}


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
        agent.teardown(detach=False)
        os._exit(1)


if __name__ == '__main__':
    main()
