# The workspace listing of a Docker box whose workspace is a volume (docs/AGENT_PROTOCOL.md, "Workspace listing"):
# one JSON array per entry, [path, kind, size, mtime_ns, target?]. Run by the server through `exec` (deletions first,
# then the listing on stdout), and called by the kernel to send it with a cell's `done`.
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
# The most a listing sent with a completion may take once JSON-escaped inside that completion's line (well under the
# server's 32 MiB line cap, with room for the rest of the line), and the longest its walk may run; past either the
# completion says it has none and the server lists through `exec` (which allows 128 MiB), so a call never waits long.
INLINE_MAX_BYTES = 8 * 1024 * 1024
INLINE_MAX_SECONDS = 2.0
# Entries examined (listed or skipped) between two looks at the clock (the first one is looked at too).
CLOCK_EVERY = 256
# The longest workspace-relative path the host takes, in UTF-8 bytes (validRel in workspace-manifest.ts).
MAX_REL_BYTES = 4096

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


class _TooLong(Exception):
    """The walk ran past its deadline."""


def _host_takes(r: str) -> bool:
    """Whether the host can take a workspace path or link target as it is: UTF-8 (a name that is not comes back
    surrogate-escaped) and, for a path, at most MAX_REL_BYTES long. The host leaves such entries where they are, and
    one in the listing would make the server refuse the whole listing."""
    if r.isascii():
        return len(r) <= MAX_REL_BYTES
    try:
        return len(r.encode('utf-8')) <= MAX_REL_BYTES
    except UnicodeEncodeError:
        return False


def _record(e: os.DirEntry, r: str):
    """The entry's JSON array (no newline) and its kind, or None for a link whose target the host could not take.
    Raises OSError when it cannot be read (gone, or a link unread)."""
    st = e.stat(follow_symlinks=False)
    m = st.st_mode
    k = 'd' if stat.S_ISDIR(m) else 'f' if stat.S_ISREG(m) else 'l' if stat.S_ISLNK(m) else 'o'
    rec = [r, k, 0 if k == 'd' else st.st_size, '0' if k == 'd' else str(st.st_mtime_ns)]
    if k == 'l':
        target = os.readlink(e.path)
        if not _host_takes(target):
            return None
        rec.append(target)
    return _dumps(rec), k


def lines(root: str = ROOT, deadline: float | None = None):
    """The listing's lines (newline included), each folder before what it holds; links are recorded, never followed.
    Iterative: a deep tree or a low recursion limit set by a cell cannot stop it. With a deadline (time.monotonic()),
    every entry examined counts, listed or skipped, and the walk raises _TooLong once past it; a folder is read entry
    by entry, never whole first. An entry the host could not take (see _host_takes) is left out, with what it holds."""
    stack = [(root, '')]
    examined = 0
    while stack:
        d, pre = stack.pop()
        below = []
        try:
            it = os.scandir(d)
        except OSError:
            continue
        with it:
            while True:
                try:
                    e = next(it)
                except (StopIteration, OSError):
                    break
                examined += 1
                if deadline is not None and examined % CLOCK_EVERY == 1 and time.monotonic() > deadline:
                    raise _TooLong
                if SERVER_TEMP.fullmatch(e.name):
                    continue
                r = pre + e.name
                if not _host_takes(r):
                    continue
                try:
                    rec = _record(e, r)
                except OSError:
                    continue
                if rec is None:
                    continue
                text, k = rec
                yield text + '\n'
                if k == 'd':
                    below.append((e.path, r + '/'))
        stack.extend(reversed(below))


def escaped_size(line: str) -> int:
    """How long a listing line (ASCII: JSON with ensure_ascii) is once JSON-escaped again inside a completion's line:
    each quote and backslash doubles, the newline becomes two characters."""
    return len(line) + line.count('"') + line.count('\\') + 1


def inline(root: str = ROOT, max_bytes: int = INLINE_MAX_BYTES, max_seconds: float = INLINE_MAX_SECONDS):
    """The listing as one text for a completion, or None when, escaped in that completion, it passes max_bytes, when
    the walk passes max_seconds, or when it fails."""
    out = []
    size = 2  # the text's own quotes
    try:
        for line in lines(root, time.monotonic() + max_seconds):
            size += escaped_size(line)
            if size > max_bytes:
                return None
            out.append(line)
    except Exception:  # past its deadline, or a cell broke what the walk uses: the server lists through exec instead
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
