# What a tunnel script does first in a Docker box: it becomes non-dumpable (code in the box runs as the same uid, and
# could otherwise open its /proc entries: its memory, its pipes to the server) and takes on the box's own seccomp
# program as pid 1 does (docker_init.py), so nothing it runs can do more than code in the box.
import os
import sys

from no_dump import forbid_dumping


def harden() -> None:
    """Raises when either step fails: the script must not run unguarded."""
    forbid_dumping()
    if os.environ.get('SANDBOX_SECCOMP_BPF'):
        # in the box image docker_init.py sits beside the agent (assets/Dockerfile.agent)
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from docker_init import load_seccomp

        load_seccomp()
