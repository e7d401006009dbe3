# In-box TCP relay for the allowlist network policy: listens on 127.0.0.1:<port> in the box's own network namespace
# and pipes each connection to the host proxy's Unix socket. It must never connect anywhere but that socket.
import os
import select
import socket
import threading
import time

MAX_CONNECTIONS = 128  # each costs two fds and a thread; the box's fd limit is shared with user code
CHUNK = 65536


def start(sock_path, port=3128, host='127.0.0.1', log=None):
    """Binds at once (so the port is ready before the agent says ready) and serves from a daemon thread."""
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((host, port))
    srv.listen(64)
    slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
    t = threading.Thread(target=_accept_loop, args=(srv, sock_path, slots, log), name='netrelay', daemon=True)
    t.start()
    return srv


def _accept_loop(srv, sock_path, slots, log):
    while True:
        try:
            conn, _addr = srv.accept()
        except OSError as e:
            # EMFILE and friends: back off instead of spinning; the listener itself stays.
            if log:
                log('network relay accept failed: %s' % e)
            time.sleep(0.2)
            continue
        if not slots.acquire(blocking=False):
            conn.close()
            continue
        threading.Thread(target=_serve, args=(conn, sock_path, slots), daemon=True).start()


def _serve(conn, sock_path, slots):
    up = None
    try:
        up = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        up.connect(sock_path)
        _pipe(conn, up)
    except OSError:
        pass
    finally:
        for s in (conn, up):
            if s is not None:
                try:
                    s.close()
                except OSError:
                    pass
        slots.release()


def _pipe(a, b):
    # poll, not select: user code may raise the fd limit past select's 1024.
    peers = {a.fileno(): (a, b), b.fileno(): (b, a)}
    poller = select.poll()
    for fd in peers:
        poller.register(fd, select.POLLIN)
    live = len(peers)
    while live:
        events = poller.poll(600_000)
        if not events:
            return  # idle for ten minutes
        for fd, _ev in events:
            src, dst = peers[fd]
            data = src.recv(CHUNK)
            if not data:
                # Half-close: the other side may still be sending its answer.
                poller.unregister(fd)
                live -= 1
                try:
                    dst.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                continue
            dst.sendall(data)


def start_from_env(log=None):
    path = os.environ.get('SANDBOX_NET_PROXY_SOCKET')
    if not path:
        return None
    port = int(os.environ.get('SANDBOX_NET_RELAY_PORT') or 3128)
    return start(path, port, log=log)
