# Shell commands for agent.py (op "shell"): /bin/sh -c under shell_reaper.py in its own session, output capped like a
# cell's, killed with every process below it on timeout. It must never signal the agent, the kernel or other commands.
import os
import selectors
import signal
import time
from collections.abc import Iterable
from io import BufferedReader
from typing import TYPE_CHECKING, Any

import procs
import shell_reaper
from agent_log import log
from capture import Capture, save_limit
from fdread import drain

if TYPE_CHECKING:
    from agent import Agent

READ_BUDGET = 1 << 20  # bytes read from one stream per wake-up, so other streams and requests get their turn
DRAIN_LIMIT = 4 << 20  # bytes read after the shell exited, before its final is sent
BATCH_S = 0.1
DEFAULT_CAP = 32768
DEFAULT_GRACE_S = 2.0
# Background processes a command leaves behind keep its pipes open; their output is read and dropped so they never
# block on a full pipe. Past this many, the oldest pipes are closed (a writer then gets EPIPE).
MAX_LINGERING = 64
MAX_REMEMBERED_SESSIONS = 256


def _signal_sessions(leaders: Iterable[int], sig: int, spare: Iterable[int] = ()) -> None:
    """Signal every process in the process groups or sessions the given commands' reapers lead."""
    leaders = set(leaders)
    for leader in leaders:
        try:
            os.killpg(leader, sig)
        except OSError:
            pass
    table = procs.proc_table()
    live = {pid: v for pid, v in table.items() if v[0] != b'Z'}
    for pid in procs.members(live, leaders) - set(spare):
        try:
            os.kill(pid, sig)
        except OSError:
            pass


def _signal_tree(root: int, sig: int) -> None:
    """Signal every process under a command's reaper (the reaper ignores whatever reaches it this way)."""
    try:
        os.killpg(root, sig)
    except OSError:
        pass
    for pid in shell_reaper.below(root, procs.proc_table()):
        try:
            os.kill(pid, sig)
        except OSError:
            pass


class Command:
    def __init__(
        self,
        req: dict[str, Any],
        proc: shell_reaper.Spawned,
        captures: dict[str, Capture],
        now: float,
        deadline: float | None,
        grace_s: float,
    ) -> None:
        self.id = req.get('id')
        self.proc = proc
        self.pid = proc.pid
        self.out = captures
        self.fds: dict[int, tuple[str, BufferedReader]] = {
            proc.stdout.fileno(): ('stdout', proc.stdout),
            proc.stderr.fileno(): ('stderr', proc.stderr),
        }
        self.t0 = now
        self.deadline = deadline
        self.grace_s = grace_s
        self.kill_at: float | None = None
        self.kill_rounds = 0  # of the SIGKILL sweep after the grace period
        self.reason: str | None = None  # 'timeout' or 'interrupted' once it is being stopped
        self.status: int | None = None  # wait status once reaped
        self.flush_at: float | None = None
        self.last_flush = now


class Shells:
    def __init__(self, agent: 'Agent') -> None:
        self.agent = agent
        self.running: dict[Any, Command] = {}  # request id -> Command
        self.by_pid: dict[int, Command] = {}
        self.lingering: list[tuple[int, BufferedReader]] = []  # finished commands' pipes their background jobs hold
        self.sessions: list[int] = []  # session ids of every command started, to end their leftovers at shutdown

    # --- requests -----------------------------------------------------------------

    def start(self, req: dict[str, Any]) -> None:
        agent = self.agent
        rid = req.get('id')
        command = req.get('command')
        if not isinstance(command, str) or not command:
            agent.bad_request(rid, 'shell needs a non-empty string "command"')
            return
        if '\0' in command:
            agent.bad_request(rid, 'a shell "command" cannot contain a NUL character')
            return
        cwd = self._cwd(req.get('cwd'))
        if cwd is None:
            agent.bad_request(rid, '"cwd" must be a folder inside the workspace')
            return
        cap = req.get('output_cap')
        cap = int(cap) if isinstance(cap, (int, float)) and cap >= 0 else DEFAULT_CAP
        label = 'shell-' + (''.join(c for c in str(rid) if c.isalnum())[:12] or 'x')
        limit = save_limit()
        captures = {n: Capture(n, cap, label, agent.workspace, limit) for n in ('stdout', 'stderr')}
        env = dict(os.environ)
        env['PWD'] = cwd
        now = time.monotonic()
        try:
            proc = shell_reaper.spawn(command, cwd, env)
        except OSError as e:
            agent.final_simple(rid, 'error', error={'code': 'spawn_failed', 'message': f'cannot start /bin/sh: {e}'})
            return
        timeout_ms = req.get('timeout_ms')
        deadline = now + timeout_ms / 1000.0 if isinstance(timeout_ms, (int, float)) and timeout_ms > 0 else None
        grace = req.get('grace_ms')
        grace_s = grace / 1000.0 if isinstance(grace, (int, float)) and grace >= 0 else DEFAULT_GRACE_S
        cmd = Command(req, proc, captures, now, deadline, grace_s)
        self.running[rid] = cmd
        self.by_pid[cmd.pid] = cmd
        self.sessions.append(cmd.pid)
        del self.sessions[:-MAX_REMEMBERED_SESSIONS]
        for fd in cmd.fds:
            os.set_blocking(fd, False)
            agent.sel.register(fd, selectors.EVENT_READ, lambda fd, cmd=cmd: self._read(cmd, fd))

    def _cwd(self, rel: object) -> str | None:
        root = self.agent.workspace
        if rel in (None, '', '.'):
            return root
        if not isinstance(rel, str) or rel.startswith('/') or '..' in rel.split('/') or '\0' in rel:
            return None
        path = os.path.join(root, rel)
        real = os.path.realpath(path)
        if not (real == root or real.startswith(os.path.realpath(root) + os.sep)) or not os.path.isdir(real):
            return None
        return real

    def interrupt(self, target: object) -> bool:
        cmd = self.running.get(target)
        if cmd is None:
            return False
        self._stop(cmd, 'interrupted', time.monotonic())
        return True

    # --- output --------------------------------------------------------------------

    def _read(self, cmd: Command, fd: int, budget: int = READ_BUDGET) -> None:
        entry = cmd.fds.get(fd)
        if entry is None:
            return
        cap = cmd.out[entry[0]]
        if drain(fd, cap.feed, budget):
            self._close_fd(cmd, fd)
        if cap.pending and cmd.flush_at is None:
            cmd.flush_at = max(time.monotonic(), cmd.last_flush + BATCH_S)

    def _close_fd(self, cmd: Command, fd: int) -> None:
        try:
            self.agent.sel.unregister(fd)
        except (KeyError, ValueError):
            pass
        entry = cmd.fds.pop(fd, None)
        if entry is not None:
            entry[1].close()

    def _linger(self, fd: int, f: BufferedReader) -> None:
        def drop(fd: int) -> None:
            if drain(fd, None, READ_BUDGET):
                self._unlinger(fd)

        self.agent.sel.register(fd, selectors.EVENT_READ, drop)
        self.lingering.append((fd, f))
        while len(self.lingering) > MAX_LINGERING:
            self._unlinger(self.lingering[0][0])

    def _unlinger(self, fd: int) -> None:
        for i, (lfd, f) in enumerate(self.lingering):
            if lfd == fd:
                try:
                    self.agent.sel.unregister(fd)
                except (KeyError, ValueError):
                    pass
                f.close()
                del self.lingering[i]
                return

    # --- ending --------------------------------------------------------------------

    def reaped(self, pid: int, status: int) -> bool:
        cmd = self.by_pid.get(pid)
        if cmd is None:
            return False
        cmd.status = status
        cmd.proc.returncode = os.waitstatus_to_exitcode(status)
        if cmd.reason is not None:
            _signal_sessions((cmd.pid,), signal.SIGKILL)  # what a stopped command left running goes with it
        self._finish(cmd)
        return True

    def _finish(self, cmd: Command) -> None:
        for fd in list(cmd.fds):
            self._read(cmd, fd, DRAIN_LIMIT)
        for fd in list(cmd.fds):
            # Still open: a background process holds it. Keep reading (and dropping) so it never blocks.
            self.agent.sel.unregister(fd)
            _name, f = cmd.fds.pop(fd)
            self._linger(fd, f)
        self.agent.flush_streams(cmd, final=True)
        del self.running[cmd.id]
        del self.by_pid[cmd.pid]
        code = os.waitstatus_to_exitcode(cmd.status or 0)
        self.agent.emit(
            {
                'type': 'final',
                'id': cmd.id,
                'status': cmd.reason or 'ok',
                'exit_code': code if code >= 0 else None,
                'signal': -code if code < 0 else None,
                'duration_ms': round((time.monotonic() - cmd.t0) * 1000, 3),
                'stdout': cmd.out['stdout'].result(),
                'stderr': cmd.out['stderr'].result(),
            }
        )

    def _stop(self, cmd: Command, reason: str, now: float) -> None:
        if cmd.reason is not None:
            return
        cmd.reason = reason
        try:
            os.kill(cmd.pid, shell_reaper.STOPPING)  # the reaper now stays until nothing is left below it
        except OSError:
            pass
        # SIGTERM first so programs can clean up; SIGKILL for what is left after the grace period.
        _signal_tree(cmd.pid, signal.SIGTERM)
        cmd.kill_at = now + min(cmd.grace_s, DEFAULT_GRACE_S)

    def timers(self, now: float) -> None:
        for cmd in list(self.running.values()):
            if cmd.deadline is not None and cmd.reason is None and now >= cmd.deadline:
                self._stop(cmd, 'timeout', now)
            if cmd.kill_at is not None and now >= cmd.kill_at and cmd.status is None:
                # Every process below the reaper, which then exits with the shell's status; if it has not by the
                # next round (stopped, or blocked), it is killed too.
                if not shell_reaper.kill_tree(cmd.pid):
                    log(f'processes survived the kill of shell command {cmd.pid}')
                if cmd.kill_rounds > 0:
                    try:
                        os.kill(cmd.pid, signal.SIGKILL)
                    except OSError:
                        pass
                cmd.kill_rounds += 1
                cmd.kill_at = time.monotonic() + 0.2
            if cmd.flush_at is not None and now >= cmd.flush_at and cmd.id in self.running:
                self.agent.flush_streams(cmd)

    def next_deadline(self) -> float | None:
        when = []
        for cmd in self.running.values():
            for t in (cmd.deadline if cmd.reason is None else None, cmd.kill_at, cmd.flush_at):
                if t is not None:
                    when.append(t)
        return min(when) if when else None

    def spared_roots(self, table: procs.Table) -> set[int]:
        """Session ids a cell's timeout sweep must spare: whatever shell commands started, running or in the background.

        Sessions with no process left in table are forgotten, so a later process cannot inherit a spared id."""
        live = set()
        for _state, _ppid, pgrp, sid in table.values():
            live.add(pgrp)
            live.add(sid)
        self.sessions = [s for s in self.sessions if s in live]
        return set(self.sessions)

    def kill_all(self) -> None:
        """At agent shutdown: end every command and whatever the finished ones left running."""
        for cmd in self.running.values():
            for c in cmd.out.values():
                c.discard()
            _signal_tree(cmd.pid, signal.SIGKILL)
        if self.sessions:
            _signal_sessions(set(self.sessions), signal.SIGKILL, spare={os.getpid()})
        for fd, _f in list(self.lingering):
            self._unlinger(fd)
