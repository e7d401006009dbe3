# One output stream of one shell command: the same rules as a cell's (output_rules.json, read by the server's
# src/sandbox/output-capture.ts too): head and tail kept, events capped, all of it saved once it outgrows the cap.
import codecs
import errno
import json
import os
import resource
import secrets
from typing import Any

from agent_log import log

HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(HERE, 'output_rules.json'), encoding='utf-8') as _f:
    RULES: dict[str, Any] = json.load(_f)

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def save_limit() -> int | None:
    """The saved file holds at most the file-size limit in force (the one the agent could set), as a cell's does."""
    soft = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    return None if soft == resource.RLIM_INFINITY else soft


def _reason(e: OSError) -> str:
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return RULES['no_space']
    return e.strerror or str(e)


def _tail_text(tail: bytes) -> str:
    i = 0
    while i < 3 and i < len(tail) and (tail[i] & 0xC0) == 0x80:
        i += 1  # do not start inside a character
    return tail[i:].decode('utf-8', 'replace')


class _AtomicFile:
    """A file written under a temporary name in its folder and renamed into place at commit; no folder on the way,
    nor the file, is followed through a symlink."""

    def __init__(self, root: str, rel: str) -> None:
        parts = rel.split('/')
        self.name = parts[-1]
        self.dir_fd = os.open(root, _DIR_FLAGS)
        try:
            for part in parts[:-1]:
                try:
                    os.mkdir(part, 0o755, dir_fd=self.dir_fd)
                except FileExistsError:
                    pass
                fd = os.open(part, _DIR_FLAGS, dir_fd=self.dir_fd)
                os.close(self.dir_fd)
                self.dir_fd = fd
            # Named as the server names its temporary files, so what a killed box leaves is removed the same way.
            self.tmp = f'.sbx-{secrets.token_hex(8)}.tmp'
            self.fd: int | None = os.open(self.tmp, _NEW_FILE, 0o644, dir_fd=self.dir_fd)
        except OSError:
            os.close(self.dir_fd)
            raise

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view) :]  # type: ignore[arg-type]

    def commit(self) -> bool:
        ok = False
        try:
            if self.fd is not None:
                os.close(self.fd)
                self.fd = None
            os.rename(self.tmp, self.name, src_dir_fd=self.dir_fd, dst_dir_fd=self.dir_fd)
            ok = True
        except OSError as e:
            log(f'cannot save {self.name}: {e}')
            self.abort()
        finally:
            os.close(self.dir_fd)
        return ok

    def abort(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        try:
            os.unlink(self.tmp, dir_fd=self.dir_fd)
        except OSError:
            pass


class Capture:
    """One output stream of one request."""

    def __init__(self, name: str, cap: int, label: str, workspace: str, limit: int | None = None) -> None:
        self.name = name
        self.cap = cap
        self.head_n = cap // 2
        self.tail_n = cap - cap // 2
        self.workspace = workspace
        self.limit = limit  # bytes the saved file may hold (None: no limit)
        self.rel = f"{RULES['outputs_dir']}/{RULES['saved_name'].format(label=label, stream=name)}"
        self.buf: bytearray | None = bytearray()  # everything, until the cap is passed
        self.head = b''
        self.tail: bytearray | None = None
        self.total = 0
        self.file: _AtomicFile | None = None
        self.saved = 0
        self.write_failed = False
        self.shortfall: str | None = None  # why the file holds less than the whole stream, once it does
        self.ev_left = cap
        self.pending = bytearray()
        self.decoder = codecs.getincrementaldecoder('utf-8')('replace')

    def feed(self, data: bytes) -> None:
        self.total += len(data)
        if self.tail is None:
            assert self.buf is not None
            self.buf += data
            if len(self.buf) > self.cap:
                self._spill()
        else:
            self._save(data)
            tail = self.tail
            tail += data
            if len(tail) > 2 * self.tail_n + RULES['tail_slack_bytes']:
                del tail[: len(tail) - self.tail_n]
        if self.ev_left > 0:
            take = data[: self.ev_left]
            self.pending += take
            self.ev_left -= len(take)

    def _spill(self) -> None:
        buf = self.buf
        assert buf is not None
        self.head = bytes(buf[: self.head_n])
        self.tail = bytearray(buf[len(buf) - self.tail_n :]) if self.tail_n else bytearray()
        try:
            self.file = _AtomicFile(self.workspace, self.rel)
        except OSError as e:
            # The box made the folder unusable, or the disk is full: the capped text is all there is.
            self.shortfall = RULES['note_not_saved'].format(reason=_reason(e))
        self._save(bytes(buf))
        self.buf = None

    def _save(self, data: bytes) -> None:
        room = None if self.limit is None else self.limit - self.saved
        if room is not None and room < len(data) and not self.write_failed and self.shortfall is None:
            self.shortfall = RULES['note_size_limit'].format(path=self.rel, limit=self.limit, stream=self.name)
        if self.file is None or self.write_failed or (room is not None and room <= 0):
            return
        piece = data if room is None or len(data) <= room else data[:room]
        self.saved += len(piece)
        try:
            self.file.write(piece)
        except OSError as e:
            self.write_failed = True  # a full disk: the file keeps what fitted
            if self.shortfall is None:
                self.shortfall = RULES['note_write_failed'].format(path=self.rel, stream=self.name, reason=_reason(e))

    def take_events(self, final: bool = False) -> str:
        """Output not yet sent as an event (at most cap bytes in all); final flushes a split character."""
        if not self.pending and not final:
            return ''
        text = self.decoder.decode(bytes(self.pending), final)
        self.pending.clear()
        return text

    def result(self) -> dict[str, Any]:
        """The capped text for the final message; the saved file is complete and in place once this returns."""
        if self.tail is None:
            text = bytes(self.buf or b'').decode('utf-8', 'replace')
            return {'text': text, 'truncated': False, 'bytes': self.total, 'saved_path': None}
        tail = bytes(self.tail[len(self.tail) - self.tail_n :]) if self.tail_n else b''
        head_text = codecs.getincrementaldecoder('utf-8')('replace').decode(self.head, False)
        omitted = self.total - len(self.head) - len(tail)
        text = head_text + RULES['omitted_marker'].format(omitted=omitted) + _tail_text(tail)
        saved_path = self.rel if self.file is not None and self.file.commit() else None
        self.file = None
        note = self.shortfall
        return {'text': text, 'truncated': True, 'bytes': self.total, 'saved_path': saved_path, 'save_note': note}

    def discard(self) -> None:
        """The request ended without a result: the temporary file goes."""
        if self.file is not None:
            self.file.abort()
            os.close(self.file.dir_fd)
            self.file = None
