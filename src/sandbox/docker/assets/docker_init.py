# Pid 1 of a Docker box: starts the agent with the descriptors it expects (lane on fd 4, kernel output on 5 and 6) and
# carries them, with the agent's stdin and stdout, over the container's stdin and stdout as frames.
#
# A frame is one byte of channel, four bytes of length (big-endian), then the payload.
#   server -> box: 0 the agent's stdin, 1 the lane, 2 a request for a cgroup report
#   box -> server: 0 the agent's stdout, 1 the lane, 2 the kernel's stdout, 3 its stderr, 4 a cgroup report (JSON)
# The agent's stderr is the container's stderr. Standard library only.
import errno
import fcntl
import json
import os
import selectors
import signal
import socket
import struct
import sys

HEADER = struct.Struct('>BI')
MAX_FRAME = 1 << 24
READ_CHUNK = 1 << 16
AGENT_PY = '/opt/sandbox-agent/agent.py'
OUT = 1


def write_all(fd, data):
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except InterruptedError:
            continue
        view = view[n:]


def send(channel, payload):
    # one write per frame keeps frames whole on the container's stdout
    write_all(OUT, HEADER.pack(channel, len(payload)) + payload)


def read_first(paths):
    for path in paths:
        try:
            with open(path, 'rb') as f:
                return f.read().decode('ascii', 'replace')
        except OSError:
            continue
    return None


def _int(text):
    try:
        return int(text.strip()) if text is not None else None
    except ValueError:
        return None


def cgroup_report():
    """The container's own counters (cgroup v2 first, then v1): OOM kills, memory now and at peak, processes."""
    oom = 0
    events = read_first(['/sys/fs/cgroup/memory.events', '/sys/fs/cgroup/memory/memory.oom_control'])
    for line in (events or '').splitlines():
        key, _, value = line.partition(' ')
        if key == 'oom_kill':
            oom = _int(value) or 0
    return {
        'oom_kills': oom,
        'memory_bytes': _int(
            read_first(['/sys/fs/cgroup/memory.current', '/sys/fs/cgroup/memory/memory.usage_in_bytes'])
        ),
        'memory_peak_bytes': _int(
            read_first(['/sys/fs/cgroup/memory.peak', '/sys/fs/cgroup/memory/memory.max_usage_in_bytes'])
        ),
        'pids': _int(read_first(['/sys/fs/cgroup/pids.current', '/sys/fs/cgroup/pids/pids.current'])),
    }


def send_report():
    send(4, json.dumps(cgroup_report(), separators=(',', ':')).encode())


def load_seccomp():
    """Loads the server's seccomp program (the one bubblewrap boxes get, base64 in SANDBOX_SECCOMP_BPF) on top of the
    engine's profile, for this process and all it starts: among others it refuses modes with setuid or setgid bits,
    so no file in the bind-mounted workspace can become setuid on the host. Raises when it cannot be loaded."""
    text = os.environ.pop('SANDBOX_SECCOMP_BPF', '')
    if not text:
        return False
    import base64
    import ctypes

    prog = base64.b64decode(text, validate=True)
    if not prog or len(prog) % 8 or len(prog) // 8 > 4096:
        raise ValueError('malformed seccomp program')

    class SockFprog(ctypes.Structure):
        _fields_ = [('len', ctypes.c_ushort), ('filter', ctypes.c_void_p)]

    buf = ctypes.create_string_buffer(prog, len(prog))
    fprog = SockFprog(len(prog) // 8, ctypes.cast(buf, ctypes.c_void_p))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int] + [ctypes.c_ulong] * 4
    libc.prctl.restype = ctypes.c_int
    # PR_SET_NO_NEW_PRIVS (38; the container has it already), then PR_SET_SECCOMP (22) with SECCOMP_MODE_FILTER (2)
    for args in ((38, 1, 0, 0, 0), (22, 2, ctypes.addressof(fprog), 0, 0)):
        if libc.prctl(*args) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f'prctl({args[0]}): {os.strerror(err)}')
    return True


def start_agent(python, stdin_r, stdout_w, lane, kout, kerr):
    pid = os.fork()
    if pid != 0:
        return pid
    try:
        high = [os.dup(fd) for fd in (stdin_r, stdout_w, lane, kout, kerr)]
        for src, dst in zip(high, (0, 1, 4, 5, 6)):  # noqa: B905 - any python3 of a --docker-image
            os.dup2(src, dst)
        os.closerange(7, 1 << 16)
        for fd in (3,):
            try:
                os.close(fd)
            except OSError:
                pass
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.execv(python, [python, '-I', '-u', AGENT_PY])
    except BaseException as e:  # noqa: BLE001 - the child must never return into the loop
        os.write(2, f'sandbox-init: cannot start the agent: {e}\n'.encode())
    os._exit(127)


def main():
    try:
        load_seccomp()
    except (OSError, ValueError, ImportError, AttributeError) as e:
        # never a box without the program it was given
        os.write(2, f'sandbox-init: cannot load the seccomp program: {e}\n'.encode())
        os._exit(126)
    python = os.environ.pop('SANDBOX_AGENT_PYTHON', '') or sys.executable
    stdin_r, stdin_w = os.pipe()
    stdout_r, stdout_w = os.pipe()
    lane, lane_child = socket.socketpair()
    kout, kout_child = socket.socketpair()
    kerr, kerr_child = socket.socketpair()
    agent = start_agent(python, stdin_r, stdout_w, lane_child.fileno(), kout_child.fileno(), kerr_child.fileno())
    for fd in (stdin_r, stdout_w):
        os.close(fd)
    for s in (lane_child, kout_child, kerr_child):
        s.close()

    wake_r, wake_w = os.pipe()
    for fd in (wake_r, wake_w):
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_NONBLOCK)
    signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    # docker stop, or a signal sent to the container, ends the box
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: finish(None))

    for s in (kout, kerr):
        s.setblocking(False)

    def drain_output():
        # Everything the kernel printed before a lane message goes out before it: the kernel sends `done` only once
        # its output sockets are empty, and the server ends the cell on `done`.
        for channel, s in ((2, kout), (3, kerr)):
            while True:
                try:
                    data = s.recv(READ_CHUNK)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:
                    break
                if not data:
                    break
                send(channel, data)

    sel = selectors.DefaultSelector()
    inbuf = bytearray()
    exit_code = [None]

    def finish(code):
        try:
            os.kill(-1, signal.SIGKILL)  # pid 1 of its own namespace: every other process of the box
        except OSError:
            pass
        os._exit(code if code is not None else 137)

    def on_stdin():
        data = os.read(0, READ_CHUNK)
        if not data:
            finish(exit_code[0])  # the server detached: the box ends
        inbuf.extend(data)
        while len(inbuf) >= HEADER.size:
            channel, size = HEADER.unpack_from(inbuf)
            if size > MAX_FRAME:
                os.write(2, b'sandbox-init: frame too large\n')
                finish(125)
            if len(inbuf) < HEADER.size + size:
                break
            payload = bytes(inbuf[HEADER.size : HEADER.size + size])
            del inbuf[: HEADER.size + size]
            if channel == 0:
                write_all(stdin_w, payload)
            elif channel == 1:
                lane.sendall(payload)
            elif channel == 2:
                send_report()

    def on_agent():
        data = os.read(stdout_r, READ_CHUNK)
        if not data:
            sel.unregister(stdout_r)
            return
        if b'kernel_exit' in data:
            send_report()  # the OOM count is read before the server learns that the kernel died
        send(0, data)

    def on_lane():
        data = lane.recv(READ_CHUNK)
        if not data:
            sel.unregister(lane)
            return
        drain_output()
        if b'"done"' in data:
            send_report()
        send(1, data)

    def on_output(channel, s):
        def read():
            try:
                data = s.recv(READ_CHUNK)
            except (BlockingIOError, InterruptedError):
                return
            if not data:
                sel.unregister(s)
                return
            send(channel, data)

        return read

    def on_wake():
        try:
            os.read(wake_r, 512)
        except OSError:
            pass
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid == agent:
                exit_code[0] = os.waitstatus_to_exitcode(status)
                # what the agent wrote last (its shutdown answer) still goes out
                while True:
                    try:
                        data = os.read(stdout_r, READ_CHUNK)
                    except OSError:
                        break
                    if not data:
                        break
                    send(0, data)
                code = exit_code[0]
                finish(code if code >= 0 else 128 - code)

    sel.register(0, selectors.EVENT_READ, on_stdin)
    sel.register(stdout_r, selectors.EVENT_READ, on_agent)
    sel.register(lane, selectors.EVENT_READ, on_lane)
    sel.register(kout, selectors.EVENT_READ, on_output(2, kout))
    sel.register(kerr, selectors.EVENT_READ, on_output(3, kerr))
    sel.register(wake_r, selectors.EVENT_READ, on_wake)
    while True:
        try:
            events = sel.select()
        except InterruptedError:
            continue
        for key, _ in events:
            try:
                key.data()
            except OSError as e:
                if e.errno == errno.EPIPE:
                    finish(exit_code[0])
                raise


if __name__ == '__main__':
    main()
