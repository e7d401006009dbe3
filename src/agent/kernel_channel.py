# The kernel's end of the lane socket: JSON-line events, a SIGINT gate that never cuts a line, unsent output count.
from __future__ import annotations

import fcntl
import json
import os
import struct
import termios

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import FrameType
    from typing import Any

# Requests are read from REQ_FD and events written to EV_FD: both are the one lane socket agent.py passes on argv
# (docs/AGENT_PROTOCOL.md), moved to a high descriptor so a cell closing fds 3 and 4 does not cut the kernel off.
REQ_FD = EV_FD = -1
LANE_MIN_FD = 64

KERNEL_PID = os.getpid()

running = False  # SIGINT only raises while user code runs
sending = False  # ... and never in the middle of an event line
int_pending = False

# ASCII-only lines keep lone surrogates from user strings valid on the pipe; NaN is not JSON.
_dumps = json.JSONEncoder(ensure_ascii=True, allow_nan=False, default=repr, separators=(',', ':')).encode


def setup_fds(lane: int) -> None:
    global REQ_FD, EV_FD
    try:
        REQ_FD = EV_FD = fcntl.fcntl(lane, fcntl.F_DUPFD_CLOEXEC, LANE_MIN_FD)
    except OSError:  # RLIMIT_NOFILE at or below LANE_MIN_FD
        REQ_FD = EV_FD = fcntl.fcntl(lane, fcntl.F_DUPFD_CLOEXEC, 3)
    os.close(lane)
    os.set_blocking(EV_FD, True)


def unread_output() -> int | None:
    """Bytes written to fds 1 and 2 that the server has not read yet (SIOCOUTQ of its sockets), or None when a cell
    pointed either somewhere else: with 0 the server need not wait for more output before ending the cell."""
    total = 0
    for fd in (1, 2):
        try:
            total += struct.unpack('i', fcntl.ioctl(fd, termios.TIOCOUTQ, b'\0\0\0\0'))[0]
        except OSError:
            return None
    return total


def on_sigint(signum: int, frame: FrameType | None) -> None:
    global int_pending
    if running:
        if sending:
            int_pending = True
        else:
            raise KeyboardInterrupt


def send(obj: dict[str, Any]) -> None:
    global sending, int_pending
    if os.getpid() != KERNEL_PID:
        return  # a forked child of user code must not speak for the kernel
    try:
        line = _dumps(obj)
    except ValueError:  # NaN or a cycle in some _repr_json_ output
        line = _dumps(json_safe(obj, 0))
    data = memoryview((line + '\n').encode('ascii'))
    sending = True
    try:
        while data:
            data = data[os.write(EV_FD, data):]
    except OSError:
        # User code closed or replaced the lane: the kernel can never answer again, so it ends and is replaced.
        os._exit(70)
    finally:
        sending = False
    if int_pending and running:
        int_pending = False
        raise KeyboardInterrupt


def json_safe(o: object, depth: int) -> Any:
    """o as plain JSON values: NaN and infinities become null, cycles (past 50 levels) and other objects their repr."""
    if depth > 50:
        return repr(o)
    if isinstance(o, float):
        return o if o == o and o not in (float('inf'), float('-inf')) else None
    if isinstance(o, dict):
        return {str(k): json_safe(v, depth + 1) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [json_safe(v, depth + 1) for v in o]
    if o is None or isinstance(o, (str, int, bool)):
        return o
    return repr(o)
