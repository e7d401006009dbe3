# The checks `sandbox-mcp doctor` runs inside a jailed box (src/sandbox/doctor.ts): one JSON line on stdout.
# Inputs arrive as argv (port, home, limits, ptrace number, home entries bound on purpose) and the host paths the
# box must not see on stdin, never as code. Run it only inside a box: it forks, fills file limits and writes files.
import ctypes
import errno
import json
import os
import resource
import socket
import sys
import time


def ename(e):
    return errno.errorcode.get(e.errno, str(e))


def ns(n):
    try:
        return os.readlink('/proc/self/ns/' + n)
    except OSError as e:
        return 'error:' + ename(e)


def opens_for_write(p):
    try:
        os.close(os.open(p, os.O_WRONLY))
        return 'writable'
    except OSError as e:
        return ename(e)


def reads(p):
    try:
        with open(p, 'rb') as f:
            return 'readable' if f.read(64) else 'empty'
    except OSError as e:
        return ename(e)


def try_setuid():
    try:
        with open('/workspace/suid-chmod', 'w') as f:
            f.write('x')
        os.chmod('/workspace/suid-chmod', 0o4755)
        chmod = 'ok'
    except OSError as e:
        chmod = ename(e)
    try:
        os.close(os.open('/workspace/suid-create', os.O_CREAT | os.O_WRONLY, 0o6755))
        create = 'ok'
    except OSError as e:
        create = ename(e)
    return {'chmod': chmod, 'create': create}


def main(argv):
    port, home, fsize, nofile, fork_cap, ptrace_nr = (
        int(argv[1]),
        argv[2],
        int(argv[3]),
        int(argv[4]),
        int(argv[5]),
        int(argv[6]),
    )
    allowed_home_entries = set(argv[7].split('/')) - {''}
    out = {}
    out['ns'] = {n: ns(n) for n in ('user', 'pid', 'mnt', 'ipc', 'uts', 'net')}
    out['pid'] = os.getpid()
    out['uid'] = os.getuid()
    out['hostname'] = socket.gethostname()
    s = socket.socket()
    s.settimeout(3)
    try:
        s.connect(('127.0.0.1', port))
        out['connect'] = 'connected'
    except OSError as e:
        out['connect'] = ename(e) if e.errno else 'timeout'
    finally:
        s.close()
    out['interfaces'] = sorted(n for _, n in socket.if_nameindex())
    try:
        with open('/etc/shadow') as f:
            f.read(1)
        out['shadow'] = 'readable'
    except OSError as e:
        out['shadow'] = ename(e)
    try:
        out['home_entries'] = sorted(set(os.listdir(home)) - allowed_home_entries)
    except OSError as e:
        out['home_entries'] = ename(e)
    try:
        open('/sandbox-doctor-probe', 'w').close()
        out['root_write'] = 'ok'
    except OSError as e:
        out['root_write'] = ename(e)
    out['fsize_limit'] = list(resource.getrlimit(resource.RLIMIT_FSIZE))
    try:
        with open('/tmp/fsize-probe', 'wb') as f:
            f.write(b'\0' * (fsize + 65536))
        out['fsize_write'] = 'ok'
    except OSError as e:
        out['fsize_write'] = ename(e)
    out['fsize_written'] = os.path.getsize('/tmp/fsize-probe')
    os.unlink('/tmp/fsize-probe')
    out['nofile_limit'] = list(resource.getrlimit(resource.RLIMIT_NOFILE))
    fds = []
    try:
        while len(fds) < nofile + 16:
            fds.append(os.open('/dev/null', os.O_RDONLY))
        out['nofile_open'] = 'ok'
    except OSError as e:
        out['nofile_open'] = ename(e)
    out['nofile_max_fd'] = max(fds) if fds else -1
    for fd in fds:
        os.close(fd)
    libc = ctypes.CDLL(None, use_errno=True)
    r = libc.syscall(ptrace_nr, 3, os.getpid(), 0, 0)
    out['ptrace'] = 'ok' if r == 0 else errno.errorcode.get(ctypes.get_errno(), '?')
    with open('/proc/self/status') as f:
        out['seccomp_mode'] = next((line.split()[1] for line in f if line.startswith('Seccomp:')), None)
    children = []
    out['fork_error'] = None
    try:
        for _ in range(fork_cap):
            pid = os.fork()
            if pid == 0:
                try:
                    time.sleep(30)
                finally:
                    os._exit(0)
            children.append(pid)
    except OSError as e:
        out['fork_error'] = ename(e)
    out['forked'] = len(children)
    for pid in children:
        os.kill(pid, 9)
    for pid in children:
        os.waitpid(pid, 0)
    try:
        open('/workspace/owner-probe', 'w').close()
        out['owner_probe'] = 'ok'
    except OSError as e:
        out['owner_probe'] = ename(e)
    out['proc_writes'] = {
        p: opens_for_write(p)
        for p in ('/proc/sys/kernel/core_pattern', '/proc/sys/vm/drop_caches', '/proc/sysrq-trigger')
        if os.path.exists(p)
    }
    out['proc_reads'] = {
        p: reads(p)
        for p in ('/proc/kcore', '/proc/keys', '/proc/timer_list', '/proc/kallsyms', '/proc/sched_debug')
        if os.path.exists(p)
    }
    host_paths = [line for line in sys.stdin.read().split('\n') if line]
    leaks = []
    for p in ('/proc/1/environ', '/proc/1/cmdline', '/proc/self/environ', '/proc/self/cmdline'):
        try:
            with open(p, 'rb') as f:
                text = f.read().decode('utf8', 'replace')
        except OSError:
            continue
        leaks += [p for h in host_paths if h in text]
    leaks += ['PWD' for h in host_paths if h in os.environ.get('PWD', '') + os.getcwd()]
    out['host_path_leaks'] = sorted(set(leaks))
    out['setuid'] = try_setuid()
    print(json.dumps(out))


if __name__ == '__main__':
    main(sys.argv)
