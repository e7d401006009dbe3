# Makes the calling process non-dumpable: code in the box runs as the same uid and could otherwise open its /proc
# entries (its memory for writing, its descriptors), so the agent and the tunnel scripts take this step first.
import ctypes
import os

PR_SET_DUMPABLE = 4


def forbid_dumping() -> None:
    """Raises OSError when the kernel refuses: the caller must not run on unguarded."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int] + [ctypes.c_ulong] * 4
    libc.prctl.restype = ctypes.c_int
    if libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f'prctl(PR_SET_DUMPABLE): {os.strerror(err)}')
