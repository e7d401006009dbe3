# The workspace listing of a Docker box whose workspace is a volume (docs/AGENT_PROTOCOL.md, "Workspace listing"):
# one JSON array per entry, [path, kind, size, mtime_ns, target?]. Run by the server through `exec` (deletions first,
# then the listing on stdout), and called by the kernel and the agent to send it with a call's completion.
# Standard library only: it also runs under `python3 -I -S` of any image.
from __future__ import annotations

import json
import os
import re
import stat
import sys
import time

ROOT = '/workspace'
# The server's own temporary files (its atomic writes): neither side's listing has them.
SERVER_TEMP = re.compile(r'\.sbx-[0-9a-f]{16}\.tmp')
# The most a listing sent with a completion may take, and the longest its walk may run; past either the completion
# says it has none and the server lists through `exec` (which allows 128 MiB), so a call never waits long for it.
INLINE_MAX_BYTES = 16 * 1024 * 1024
INLINE_MAX_SECONDS = 2.0

_dumps = json.dumps
_lstat = os.lstat


def remove(root: str, rels: list[str]) -> None:
    """Removes each workspace-relative path (a folder with what it holds), never following a link."""
    import shutil  # only the exec path removes

    for rel in rels:
        p = os.path.join(root, rel)
        try:
            if stat.S_ISDIR(_lstat(p).st_mode):
                shutil.rmtree(p)
            else:
                os.unlink(p)
        except OSError:
            pass


def lines(root: str = ROOT):
    """The listing's lines (newline included), each folder before what it holds; links are recorded, never followed.
    Iterative: a deep tree or a low recursion limit set by a cell cannot stop it."""
    stack = [(root, '')]
    while stack:
        d, pre = stack.pop()
        try:
            with os.scandir(d) as it:
                items = list(it)
        except OSError:
            continue
        below = []
        for e in items:
            if SERVER_TEMP.fullmatch(e.name):
                continue
            r = pre + e.name
            try:
                st = e.stat(follow_symlinks=False)
            except OSError:
                continue
            m = st.st_mode
            k = 'd' if stat.S_ISDIR(m) else 'f' if stat.S_ISREG(m) else 'l' if stat.S_ISLNK(m) else 'o'
            rec = [r, k, 0 if k == 'd' else st.st_size, '0' if k == 'd' else str(st.st_mtime_ns)]
            if k == 'l':
                try:
                    rec.append(os.readlink(e.path))
                except OSError:
                    continue
            yield _dumps(rec) + '\n'
            if k == 'd':
                below.append((e.path, r + '/'))
        stack.extend(reversed(below))


def inline(root: str = ROOT, max_bytes: int = INLINE_MAX_BYTES, max_seconds: float = INLINE_MAX_SECONDS):
    """The listing as one text for a completion, or None when it passes max_bytes or max_seconds, or fails."""
    out = []
    size = 0
    deadline = time.monotonic() + max_seconds
    try:
        for n, line in enumerate(lines(root)):
            size += len(line)
            if size > max_bytes or (n & 255 == 0 and time.monotonic() > deadline):
                return None
            out.append(line)
    except Exception:  # a cell may have broken what the walk uses: the server lists through exec instead
        return None
    return ''.join(out)


def main(argv: list[str]) -> None:
    """`workspace_listing.py <JSON list of paths to remove> list|-`: removes, then prints the listing with `list`."""
    remove(ROOT, json.loads(argv[1]))
    if argv[2] == 'list':
        write = sys.stdout.write
        for line in lines(ROOT):
            write(line)
    sys.stdout.flush()


if __name__ == '__main__':
    main(sys.argv)
