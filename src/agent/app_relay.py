# The relay of one web app: a Unix socket the server connects to, each connection piped to the app's port on the
# box's own loopback (two threads per connection). It never listens on a TCP port itself.
import os
import socket
import threading
import time

RELAY_BUF = 1 << 18
CONNECT_TIMEOUT_S = 5.0


def _shutdown(sock, how=socket.SHUT_RDWR):
    try:
        sock.shutdown(how)
    except OSError:
        pass


def _pump(src, dst):
    buf = bytearray(RELAY_BUF)
    view = memoryview(buf)
    try:
        while True:
            n = src.recv_into(buf)
            if not n:
                break
            dst.sendall(view[:n])
    except OSError:
        # A reset on either side ends both directions, so the other pump wakes up too.
        _shutdown(src)
        _shutdown(dst)
        return
    _shutdown(dst, socket.SHUT_WR)  # half-close: the peer may still answer


class Relay:
    """A Unix socket whose every connection is piped to 127.0.0.1:port inside the box (two threads per connection)."""

    def __init__(self, path, port):
        self.path = path
        self.port = port
        self.closed = False
        self.lock = threading.Lock()
        self.conns = set()
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.sock.bind(path)
            os.chmod(path, 0o600)
            self.sock.listen(128)
        except OSError:
            self.sock.close()
            raise
        threading.Thread(target=self._accept, name='relay-accept', daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _addr = self.sock.accept()
            except OSError:
                if self.closed:
                    return
                time.sleep(0.05)  # out of fds: wait rather than spin
                continue
            threading.Thread(target=self._bridge, args=(conn,), name='relay-conn', daemon=True).start()

    def _bridge(self, client):
        try:
            up = socket.create_connection(('127.0.0.1', self.port), timeout=CONNECT_TIMEOUT_S)
        except OSError:
            client.close()  # not listening (yet): the server sees the connection close and retries
            return
        up.settimeout(None)
        up.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.lock:
            if self.closed:
                up.close()
                client.close()
                return
            self.conns.update((client, up))
        back = threading.Thread(target=_pump, args=(up, client), name='relay-back', daemon=True)
        back.start()
        _pump(client, up)
        back.join()
        with self.lock:
            self.conns.discard(client)
            self.conns.discard(up)
        up.close()
        client.close()

    def close(self):
        with self.lock:
            if self.closed:
                return
            self.closed = True
            conns = list(self.conns)
        # Only shut down from here: the threads that own the sockets close them, so no fd is closed twice.
        for s in conns:
            _shutdown(s)
        _shutdown(self.sock)
        self.sock.close()
        try:
            os.unlink(self.path)
        except OSError:
            pass
