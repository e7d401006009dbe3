# The process a shell command runs under: a child subreaper, so what the command daemonizes stays below it for a stop.
# A fork of the agent (spawn below: no interpreter start-up, which cost 10-25 ms per command), renamed so that pkill
# and pgrep by name never match it; standard library only. It runs /bin/sh -c as its child, reaps whatever
# re-parents to it, and exits with the shell's own wait status as soon as the shell ends, so what the command left in
# the background carries on. After STOPPING (sent by the agent when it stops the command) it stays until every
# process below it has ended, killing them all once the shell has gone, then exits the same way. The agent also uses
# the same walk and kill (below, kill_tree) after the grace period.
import ctypes
import os
import signal
import time
from io import BufferedReader

import procs

PR_SET_NAME = 15
PR_SET_CHILD_SUBREAPER = 36
STOPPING = signal.SIGRTMIN + 3  # blocked, read with sigpending(): no handler can run late
UNCATCHABLE = {signal.SIGKILL, signal.SIGSTOP}
TREE_KILL_ROUNDS = 400  # bounded, since a fork bomb keeps forking
TREE_KILL_S = 1.0


def below(root: int, table: dict[int, tuple[bytes, int, int, int]]) -> set[int]:
    """The live processes under a command's reaper: its descendants and the rest of its session and process group."""
    found = procs.descendants(table, [root]) | procs.members(table, [root])
    found -= {root, os.getpid()}
    return {pid for pid in found if table[pid][0] not in (b'Z', b'X')}


def kill_tree(root: int) -> bool:
    """SIGKILL every process under a command's reaper until none is left; True when none is.

    The reaper is a child subreaper, so nothing below it can leave the tree while it lives. Each round freezes what
    still runs (SIGSTOP: a stopped process cannot fork) and, once the whole tree is frozen, kills it. A tree that will
    not freeze (a process in uninterruptible sleep, one that keeps sending SIGCONT) is killed as it stands instead."""
    t0 = time.monotonic()
    for i in range(TREE_KILL_ROUNDS):
        table = procs.proc_table()
        live = below(root, table)
        if not live:
            return True
        spent = time.monotonic() - t0
        if spent > 2 * TREE_KILL_S:
            break
        running = [pid for pid in live if table[pid][0] not in (b'T', b't')]
        freeze = bool(running) and i < TREE_KILL_ROUNDS // 4 and spent < TREE_KILL_S
        for pid in running if freeze else live:
            try:
                os.kill(pid, signal.SIGSTOP if freeze else signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.0005 * min(i + 1, 4))
    return False


def _die_like(status: int) -> None:
    """Ends this process with the wait status the shell ended with."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            import resource

            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # the shell's core dump is not ours to write again
            signal.signal(sig, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {sig})
            os.kill(os.getpid(), sig)
        except (OSError, ValueError):
            pass
        os._exit(128 + sig)
    os._exit(os.waitstatus_to_exitcode(status) & 0xFF)


# Loaded in the agent, before any fork: the forked reaper calls it without loading anything.
_LIBC = ctypes.CDLL(None, use_errno=True)


def _become_subreaper() -> None:
    libc = _LIBC
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), 'prctl(PR_SET_CHILD_SUBREAPER)')
    libc.prctl(PR_SET_NAME, b'shell-reaper', 0, 0, 0)  # not `python3`, which `pkill -s 0 python3` would match


def _run_shell(command: str, env: dict[str, str]) -> None:
    """In the forked child: the shell gets default dispositions and an empty signal mask, as from the agent."""
    try:
        for sig in range(1, signal.NSIG):
            if sig not in UNCATCHABLE:
                try:
                    signal.signal(sig, signal.SIG_DFL)
                except (OSError, ValueError):
                    pass
        signal.pthread_sigmask(signal.SIG_SETMASK, set())
        os.execve('/bin/sh', ['/bin/sh', '-c', '--', command], env)  # `--`: a command may start with a dash
    except BaseException as e:
        os.write(2, f'cannot start /bin/sh: {e}\n'.encode())
    os._exit(127)


class Spawned:
    """What the agent keeps of a started reaper: its pid, its output pipes and, once reaped, the shell's exit code."""

    def __init__(self, pid: int, stdout: BufferedReader, stderr: BufferedReader) -> None:
        self.pid = pid
        self.stdout = stdout
        self.stderr = stderr
        self.returncode: int | None = None


def spawn(command: str, cwd: str, env: dict[str, str]) -> Spawned:
    """Starts the command's reaper as a fork of the caller, in a session and process group of its own, with the
    command's output on two pipes and stdin on /dev/null. Raises OSError when it cannot (the caller answers
    spawn_failed); a failure inside the fork ends the reaper with status 126 or 127, as a shell would."""
    out_r, out_w = os.pipe2(os.O_CLOEXEC)
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    # Nothing is delivered across the fork: the agent's handlers must never run in the reaper (it sets its own).
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
    try:
        pid = os.fork()
    except OSError:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        for fd in (out_r, out_w, err_r, err_w):
            os.close(fd)
        raise
    if pid != 0:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    else:
        try:
            _child(command, cwd, env, out_w, err_w)
        except BaseException:
            pass
        os._exit(126)
    os.close(out_w)
    os.close(err_w)
    return Spawned(pid, os.fdopen(out_r, 'rb'), os.fdopen(err_r, 'rb'))


def _child(command: str, cwd: str, env: dict[str, str], out_w: int, err_w: int) -> None:
    """In the fork: drop the agent's signal handling and descriptors; the shell gets the command's environment."""
    signal.set_wakeup_fd(-1)
    os.setsid()
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(out_w, 1)
    os.dup2(err_w, 2)
    os.closerange(3, os.sysconf('SC_OPEN_MAX'))
    os.chdir(cwd)
    _serve(command, env)  # the environment goes to the shell's execve: replacing this process's costs ~1 ms here


def _serve(command: str, env: dict[str, str]) -> None:
    # Whatever signals the command's process group or session (the agent's SIGTERM, `kill 0` in a script) reaches
    # the shell, not this process: it must outlive the shell to report its status and, when stopping, its tree.
    for sig in range(1, signal.NSIG):
        if sig not in UNCATCHABLE and sig != signal.SIGCHLD:
            try:
                signal.signal(sig, signal.SIG_IGN)
            except (OSError, ValueError):
                pass
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the agent's handler is not this process's
    signal.signal(STOPPING, signal.SIG_DFL)  # kept blocked: it stays pending, so sigpending() sees it
    signal.pthread_sigmask(signal.SIG_SETMASK, {STOPPING})  # spawn blocked everything across the fork
    try:
        _become_subreaper()
        shell = os.fork()
    except OSError as e:
        os.write(2, f'cannot start /bin/sh: {e}\n'.encode())
        os._exit(126)
    if shell == 0:
        _run_shell(command, env)
    # Its own copies of the output pipes must not keep them open after the command and its background jobs.
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    shell_status: int | None = None
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            break  # nothing is left below
        if pid != shell:
            continue
        shell_status = status
        if STOPPING not in signal.sigpending():
            break  # an ordinary end: what the command left in the background keeps running
        # Stopped, and the shell has gone: what is left gets no more grace (the agent's own kill follows it anyway).
        kill_tree(os.getpid())
    _die_like(shell_status if shell_status is not None else 0)
