# Non-blocking reads for the agent's event loop: what a pipe or socket holds now, without waiting for more.
import os
from collections.abc import Callable

CHUNK = 1 << 16


def read_now(fd: int, size: int = CHUNK) -> bytes | None:
    """One read: the bytes, b'' at the end of the stream (a read error ends it too), None when nothing is there yet."""
    try:
        return os.read(fd, size)
    except (BlockingIOError, InterruptedError):
        return None
    except OSError:
        return b''


def drain(fd: int, sink: Callable[[bytes], None] | None, budget: int | None = None) -> bool:
    """Reads what fd holds now into sink (None: dropped), stopping after about budget bytes (None: no limit) so other
    streams get their turn; True once the stream has ended."""
    while budget is None or budget > 0:
        data = read_now(fd)
        if data is None:
            return False
        if not data:
            return True
        if budget is not None:
            budget -= len(data)
        if sink is not None:
            sink(data)
    return False
