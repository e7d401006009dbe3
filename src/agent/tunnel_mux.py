# The box's end of a Unix socket the server serves (the allowlist proxy) on a Docker engine without bind mounts: the
# server runs this by exec (`python3 -I -S tunnel_mux.py <socket path>`, as the box user); it listens on the path the
# box expects and carries every accepted connection over its stdin and stdout as frames (kind, connection id, length,
# bytes; tunnel-mux.ts is the server's end). Each direction of a connection has at most WINDOW bytes unacknowledged.
# Standard library only.
import os
import selectors
import socket
import struct
import sys

HEAD = struct.Struct('>BII')  # kind, connection id, payload length
READY, OPEN, DATA, EOF, CLOSE, ACK = range(6)
CHUNK = 1 << 16  # largest payload of a frame
WINDOW = 1 << 18  # bytes sent on one connection and not yet acknowledged, per direction
MAX_CONNECTIONS = 64
BACKLOG = 64


def send(kind: int, cid: int, payload: bytes = b'') -> None:
    view = memoryview(HEAD.pack(kind, cid, len(payload)) + payload)
    while view:
        view = view[os.write(1, view) :]


class Conn:
    def __init__(self, cid: int, sock: socket.socket) -> None:
        self.cid = cid
        self.sock = sock
        self.out = bytearray()  # from the server, not yet written to the socket
        self.unacked = 0  # sent to the server, not yet acknowledged
        self.read_eof = False  # the socket's reader ended (told the server)
        self.peer_eof = False  # the server's side ended (shut the socket's writing once out is empty)


class Mux:
    def __init__(self, path: str) -> None:
        self.sel = selectors.DefaultSelector()
        self.conns: dict[int, Conn] = {}
        self.next_id = 1
        self.inbuf = bytearray()
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        try:
            os.unlink(path)  # a listener of an earlier run, or anything the box left there
        except FileNotFoundError:
            pass
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(path)
        self.listener.listen(BACKLOG)
        self.listener.setblocking(False)
        os.set_blocking(0, False)
        self.sel.register(0, selectors.EVENT_READ, None)
        send(READY, 0)

    def run(self) -> None:
        while True:
            self.update()
            for key, mask in self.sel.select():
                if key.fileobj == 0:
                    if not self.from_server():
                        return
                elif key.fileobj is self.listener:
                    self.accept()
                else:
                    conn: Conn = key.data
                    if conn.cid in self.conns:
                        self.on_conn(conn, mask)

    def update(self) -> None:
        want = selectors.EVENT_READ if len(self.conns) < MAX_CONNECTIONS else 0
        self.want(self.listener, want, None)
        for c in self.conns.values():
            events = 0
            if not c.read_eof and c.unacked < WINDOW:
                events |= selectors.EVENT_READ
            if c.out:
                events |= selectors.EVENT_WRITE
            self.want(c.sock, events, c)

    def want(self, sock: socket.socket, events: int, data: Conn | None) -> None:
        key = self.sel.get_map().get(sock.fileno())
        if not events:
            if key is not None:
                self.sel.unregister(sock)
        elif key is None:
            self.sel.register(sock, events, data)
        elif key.events != events:
            self.sel.modify(sock, events, data)

    def accept(self) -> None:
        try:
            sock, _ = self.listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return  # out of descriptors: the connection waits in the backlog
        sock.setblocking(False)
        cid = self.next_id
        self.next_id += 1
        self.conns[cid] = Conn(cid, sock)
        send(OPEN, cid)

    def drop(self, c: Conn, tell: bool) -> None:
        self.conns.pop(c.cid, None)
        self.want(c.sock, 0, None)
        c.sock.close()
        if tell:
            send(CLOSE, c.cid)

    def on_conn(self, c: Conn, mask: int) -> None:
        try:
            if mask & selectors.EVENT_WRITE and c.out:
                n = c.sock.send(c.out)
                del c.out[:n]
                send(ACK, c.cid, struct.pack('>I', n))
                if not c.out and c.peer_eof:
                    c.sock.shutdown(socket.SHUT_WR)
            if mask & selectors.EVENT_READ and not c.read_eof:
                data = c.sock.recv(min(CHUNK, WINDOW - c.unacked))
                if data:
                    c.unacked += len(data)
                    send(DATA, c.cid, data)
                else:
                    c.read_eof = True
                    send(EOF, c.cid)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.drop(c, True)
            return
        if c.read_eof and c.peer_eof and not c.out:
            self.drop(c, False)  # both ends done: the server closes its side by itself

    def from_server(self) -> bool:
        """Reads and applies the server's frames; False when its stream ended (or broke the protocol)."""
        try:
            data = os.read(0, CHUNK + HEAD.size)
        except (BlockingIOError, InterruptedError):
            return True
        if not data:
            return False
        self.inbuf += data
        at = 0
        while len(self.inbuf) - at >= HEAD.size:
            kind, cid, size = HEAD.unpack_from(self.inbuf, at)
            if kind not in (DATA, EOF, CLOSE, ACK) or size > CHUNK:
                return False
            if len(self.inbuf) - at < HEAD.size + size:
                break
            payload = bytes(self.inbuf[at + HEAD.size : at + HEAD.size + size])
            at += HEAD.size + size
            if not self.apply(kind, cid, payload):
                return False
        del self.inbuf[:at]
        return True

    def apply(self, kind: int, cid: int, payload: bytes) -> bool:
        c = self.conns.get(cid)
        if c is None:
            return True  # closed here while the frame travelled
        if kind == DATA:
            c.out += payload
            return len(c.out) <= WINDOW + CHUNK
        if kind == EOF:
            c.peer_eof = True
            if not c.out:
                try:
                    c.sock.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
            if c.read_eof and not c.out:
                self.drop(c, False)
        elif kind == CLOSE:
            self.drop(c, False)
        elif kind == ACK and len(payload) == 4:
            c.unacked = max(0, c.unacked - struct.unpack('>I', payload)[0])
        return True


def main() -> int:
    if len(sys.argv) != 2:
        os.write(2, b'usage: tunnel_mux.py SOCKET_PATH\n')
        return 2
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import tunnel_guard

    tunnel_guard.harden()
    try:
        mux = Mux(sys.argv[1])
    except OSError as e:
        os.write(2, f'tunnel_mux: cannot listen on {sys.argv[1]}: {e}\n'.encode())
        return 2
    try:
        mux.run()
    except OSError as e:  # the server's stream broke
        os.write(2, f'tunnel_mux: {e}\n'.encode())
        return 1
    return 0


if __name__ == '__main__':
    os._exit(main())
