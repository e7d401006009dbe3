# The agent's byte relays (web apps: a Unix socket piped to the app's loopback port; the network policy: a loopback
# port piped to the host proxy's Unix socket), all served by one thread, each holding at most MAX_CONNECTIONS.
import errno
import os
import selectors
import socket
import threading
import time
from collections.abc import Callable

from agent_log import log

# Each connection holds two of the agent's fds, and the agent's fd limit also serves its kernels and shells: past the
# cap a relay stops accepting and new connections wait in the listen backlog (past that, connecting fails).
MAX_CONNECTIONS = 64  # per relay
MAX_TOTAL = 256  # all relays together
BACKLOG = 64
CHUNK = 1 << 17  # bytes read at a time, and at most this much waits unsent per direction
READS_PER_EVENT = 16  # while the other side takes everything at once, before other connections get their turn
CONNECT_TIMEOUT_S = 5.0
ACCEPT_PAUSE_S = 0.2  # accept failed (out of fds): wait rather than spin
TICK_S = 1.0  # how often deadlines are checked while any are set

READ = selectors.EVENT_READ
WRITE = selectors.EVENT_WRITE
Handler = Callable[[int], None]


class _Hub:
    """One thread and one selector for every relay; other threads hand it work through call()."""

    def __init__(self) -> None:
        self.sel = selectors.DefaultSelector()
        self.lock = threading.Lock()
        self.todo: list[Callable[[], None]] = []
        self.relays: set[Relay] = set()
        self.pairs: set[_Pair] = set()
        self.timed: set[_Pair] = set()  # pairs with a deadline: connecting, or of a relay with an idle limit
        self.next_tick = 0.0  # when the timed pairs' deadlines are checked next
        self.thread: threading.Thread | None = None
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)
        self.sel.register(self.wake_r, READ, self._on_wake)

    def call(self, fn: Callable[[], None]) -> None:
        with self.lock:
            self.todo.append(fn)
            if self.thread is None:
                self.thread = threading.Thread(target=self._run, name='relay', daemon=True)
                self.thread.start()
        try:
            os.write(self.wake_w, b'\0')
        except BlockingIOError:
            pass  # a wake-up is already pending

    def _on_wake(self, _mask: int) -> None:
        try:
            while os.read(self.wake_r, 512):
                pass
        except BlockingIOError:
            pass
        with self.lock:
            todo, self.todo = self.todo, []
        for fn in todo:
            fn()

    def want(self, sock: socket.socket, events: int, handler: Handler) -> None:
        """Sets what the selector waits for on sock (0: nothing)."""
        fd = sock.fileno()
        key = self.sel.get_map().get(fd)
        if not events:
            if key is not None:
                self.sel.unregister(fd)
        elif key is None:
            self.sel.register(fd, events, handler)
        elif key.events != events or key.data != handler:
            self.sel.modify(fd, events, handler)

    def forget(self, sock: socket.socket) -> None:
        if sock.fileno() >= 0 and sock.fileno() in self.sel.get_map():
            self.sel.unregister(sock.fileno())

    def total(self) -> int:
        return len(self.pairs)

    def listen_update(self) -> None:
        """Each relay accepts while it and all relays together are below their caps."""
        now = time.monotonic()
        room = self.total() < MAX_TOTAL
        for r in self.relays:
            on = room and len(r.pairs) < r.cap and now >= r.paused_until
            self.want(r.listener, READ if on else 0, r.on_accept)

    def _timeout(self, now: float) -> float | None:
        """How long select may wait: until the next deadline check, or the end of the first accept pause."""
        waits = [r.paused_until - now for r in self.relays if r.paused_until]
        if self.timed:
            waits.append(self.next_tick - now)
        return max(0.0, min(waits)) if waits else None

    def _check_deadlines(self, now: float) -> None:
        """Closes the pairs past their deadline; runs once a tick, not on every wake."""
        if not self.timed or now < self.next_tick:
            return
        self.next_tick = now + TICK_S
        for p in list(self.timed):
            d = p.deadline()
            if d is not None and now >= d:
                p.close()

    def _run(self) -> None:
        while True:
            try:
                events = self.sel.select(self._timeout(time.monotonic()))
            except InterruptedError:
                continue
            for key, mask in events:
                if key.fd not in self.sel.get_map():  # an earlier handler of this round closed it
                    continue
                try:
                    key.data(mask)
                except Exception as e:  # one connection's trouble must not end every relay
                    log(f'relay: {e!r}')
            now = time.monotonic()
            self._check_deadlines(now)
            for r in self.relays:
                if r.paused_until and now >= r.paused_until:
                    r.paused_until = 0.0
            self.listen_update()


_hub = _Hub()


class _Side:
    """One socket of a pair, with what waits to be written to it."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.out = bytearray()
        self.eof = False  # nothing more will be read from it
        self.shut = False  # nothing more will be written to it
        self.peer: _Side = self
        self.handler: Handler = lambda _mask: None


class _Pair:
    """A relayed connection: the accepted socket and the one connected upstream, non-blocking, piped both ways."""

    def __init__(self, relay: 'Relay', client: socket.socket, up: socket.socket, connecting: bool) -> None:
        self.relay = relay
        self.a = _Side(client)
        self.b = _Side(up)
        self.a.peer, self.b.peer = self.b, self.a
        self.a.handler = lambda mask: self.on_event(self.a, mask)
        self.b.handler = lambda mask: self.on_event(self.b, mask)
        self.connecting = connecting
        self.started = self.last = time.monotonic()
        self.closed = False
        relay.pairs.add(self)
        _hub.pairs.add(self)
        try:
            self._timed()
            self.update()
        except BaseException:
            self.close()  # a pair the selector refused is not left half-built, holding its sockets and a slot
            raise

    def _timed(self) -> None:
        """Puts the pair among those whose deadline the hub checks while it has one, and takes it out after."""
        if self.deadline() is None:
            _hub.timed.discard(self)
        elif self not in _hub.timed:
            if not _hub.timed:
                _hub.next_tick = self.started + TICK_S
            _hub.timed.add(self)

    def deadline(self) -> float | None:
        if self.connecting:
            return self.started + CONNECT_TIMEOUT_S
        if self.relay.idle_s is not None:
            return self.last + self.relay.idle_s
        return None

    def update(self) -> None:
        for s in (self.a, self.b):
            events = 0
            if not self.connecting and not s.eof and not s.peer.out:
                events |= READ  # read only what the other side can take: memory stays bounded
            if s.out or (self.connecting and s is self.b):
                events |= WRITE
            _hub.want(s.sock, events, s.handler)

    def on_event(self, s: _Side, mask: int) -> None:
        if self.closed:
            return
        try:
            if self.connecting:
                err = self.b.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    raise OSError(err, os.strerror(err))
                self.connecting = False
                self._timed()
            elif mask & WRITE and s.out:
                del s.out[: s.sock.send(s.out)]
                if not s.out and s.peer.eof:
                    self._shut(s)
            if mask & READ and not self.connecting and not s.eof and not s.peer.out:
                self._read(s)
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            self.close()  # a reset on either side ends both directions
            return
        self.last = time.monotonic()
        if self.a.eof and self.b.eof and not self.a.out and not self.b.out:
            self.close()
        else:
            self.update()

    def _read(self, s: _Side) -> None:
        for _ in range(READS_PER_EVENT):
            data = s.sock.recv(CHUNK)
            if not data:
                s.eof = True  # half-close: the other side may still answer
                if not s.peer.out:
                    self._shut(s.peer)
                return
            sent = 0
            try:
                sent = s.peer.sock.send(data)
            except (BlockingIOError, InterruptedError):
                pass
            if sent < len(data):
                s.peer.out += memoryview(data)[sent:]
                return

    @staticmethod
    def _shut(s: _Side) -> None:
        if not s.shut:
            s.shut = True
            s.sock.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for s in (self.a, self.b):
            _hub.forget(s.sock)
            s.sock.close()
        self.relay.pairs.discard(self)
        _hub.pairs.discard(self)
        _hub.timed.discard(self)


class Relay:
    """Pipes every connection accepted on listener (bound and listening) to a new connection to address."""

    def __init__(
        self,
        listener: socket.socket,
        family: socket.AddressFamily,
        address: str | tuple[str, int],
        cap: int = MAX_CONNECTIONS,
        idle_s: float | None = None,
        unlink: str | None = None,
    ) -> None:
        self.listener = listener
        self.family = family
        self.address = address
        self.cap = cap
        self.idle_s = idle_s  # a connection silent this long is closed (None: never)
        self.unlink = unlink  # the listener's socket file, removed by close()
        self.pairs: set[_Pair] = set()
        self.paused_until = 0.0
        self.closed = False
        listener.setblocking(False)
        _hub.call(self._open)

    def _open(self) -> None:
        if not self.closed:
            _hub.relays.add(self)
            _hub.listen_update()

    def on_accept(self, _mask: int) -> None:
        while not self.closed and len(self.pairs) < self.cap and _hub.total() < MAX_TOTAL:
            try:
                client, _addr = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                break
            except OSError as e:
                log(f'relay accept failed: {e}')
                self.paused_until = time.monotonic() + ACCEPT_PAUSE_S
                break
            self._connect(client)
        _hub.listen_update()

    def _connect(self, client: socket.socket) -> None:
        """Pairs client with a new connection to address; when that fails, both sockets are closed here and now."""
        up: socket.socket | None = None
        try:
            client.setblocking(False)
            up = socket.socket(self.family, socket.SOCK_STREAM)
            up.setblocking(False)
            err = up.connect_ex(self.address)  # raises, rather than returns, for an address it cannot use
            if err not in (0, errno.EINPROGRESS):
                # Not listening (yet): the client sees the connection close and may try again.
                raise OSError(err, os.strerror(err))
            if self.family == socket.AF_INET:
                up.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except (OSError, ValueError, TypeError) as e:
            if not isinstance(e, OSError) or e.errno is None:
                log(f'relay: cannot connect to {self.address!r}: {e!r}')
            for s in (up, client):
                if s is not None:
                    s.close()
            return
        _Pair(self, client, up, connecting=err != 0)

    def close(self) -> None:
        """Stops relaying: the socket file goes at once (a new relay may bind the same path), the rest in the thread."""
        if self.closed:
            return
        self.closed = True
        if self.unlink is not None:
            try:
                os.unlink(self.unlink)
            except OSError:
                pass
        _hub.call(self._close)

    def _close(self) -> None:
        for p in list(self.pairs):
            p.close()
        _hub.relays.discard(self)
        _hub.forget(self.listener)
        self.listener.close()


def unix_to_tcp(path: str, port: int) -> Relay:
    """A web app's relay: a Unix socket at path (mode 0600) whose connections go to 127.0.0.1:port."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        os.chmod(path, 0o600)
        sock.listen(BACKLOG)
    except OSError:
        sock.close()
        raise
    return Relay(sock, socket.AF_INET, ('127.0.0.1', port), unlink=path)


def tcp_to_unix(port: int, path: str, idle_s: float | None = None) -> Relay:
    """The network policy's relay: 127.0.0.1:port (bound before this returns) whose connections go to path."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(('127.0.0.1', port))
        sock.listen(BACKLOG)
    except OSError:
        sock.close()
        raise
    return Relay(sock, socket.AF_UNIX, path, idle_s=idle_s)
