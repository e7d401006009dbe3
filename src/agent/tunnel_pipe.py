# One connection from the host to a web app's Unix socket in a Docker box without bind mounts: the server runs this by
# exec (`python3 -I -S tunnel_pipe.py <socket>`, as the box user) and pipes the connection over its stdin and stdout.
# Standard library only. Blocking reads and writes of one chunk at a time: a side that stops reading stops the other.
import os
import select
import socket
import sys
import threading
import time

CHUNK = 1 << 16
# How long the app's socket may be missing (not made yet, or not listening yet) before the connection is refused: a
# readiness probe of an app that is starting waits here, in one exec, rather than in a new exec per poll.
CONNECT_TIMEOUT_S = 5.0
CONNECT_RETRY_S = 0.05
# Once the server's side ended (its client went away, or half-closed), an app silent this long ends the connection,
# and so does output nobody took for this long: an exec whose host end is gone must not wait for the app forever.
IDLE_AFTER_END_S = 30.0
input_ended = threading.Event()


class Stalled(Exception):
    """The server's side ended and took none of the app's output for IDLE_AFTER_END_S."""


def _write_all(fd: int, data: bytes) -> None:
    """Writes to the non-blocking fd as it takes it; raises Stalled once the server's side ended and stopped reading."""
    view = memoryview(data)
    moved = time.monotonic()
    while view:
        if not select.select([], [fd], [], 1.0)[1]:
            if input_ended.is_set() and time.monotonic() - moved > IDLE_AFTER_END_S:
                raise Stalled()
            continue
        try:
            view = view[os.write(fd, view) :]
        except BlockingIOError:
            continue
        moved = time.monotonic()


def _connect(path: str) -> socket.socket:
    """Connects to the app's socket, waiting up to CONNECT_TIMEOUT_S while it is missing or not listening yet."""
    deadline = time.monotonic() + CONNECT_TIMEOUT_S
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            sock.connect(path)
            sock.settimeout(None)
            return sock
        except (FileNotFoundError, ConnectionRefusedError):
            sock.close()
            if time.monotonic() + CONNECT_RETRY_S >= deadline:
                raise
            time.sleep(CONNECT_RETRY_S)
        except OSError:
            sock.close()
            raise


def _to_app(sock: socket.socket) -> None:
    """The server's bytes to the app; its end of input is a half-close towards the app."""
    try:
        while True:
            data = os.read(0, CHUNK)
            if not data:
                break
            sock.sendall(data)
        input_ended.set()
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        # The app closed first (it answered without reading the whole request): its reply may still be queued in the
        # socket, so only this direction ends; the main loop reads the app's side to its end and then exits.
        input_ended.set()


def main() -> int:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import tunnel_guard

    tunnel_guard.harden()
    try:
        sock = _connect(sys.argv[1])
    except (OSError, IndexError) as e:
        os.write(2, f'tunnel_pipe: cannot connect: {e}\n'.encode())
        return 2
    os.set_blocking(1, False)
    threading.Thread(target=_to_app, args=(sock,), daemon=True).start()
    # The app's bytes to the server. Docker's exec stream carries no half-close from the box, so the app's end of
    # output ends the whole connection (this process exits once everything it sent is written).
    last = time.monotonic()
    try:
        while True:
            if not select.select([sock], [], [], 1.0)[0]:
                if input_ended.is_set() and time.monotonic() - last > IDLE_AFTER_END_S:
                    break
                continue
            data = sock.recv(CHUNK)
            if not data:
                break
            _write_all(1, data)
            last = time.monotonic()
    except (OSError, Stalled):
        pass
    return 0


if __name__ == '__main__':
    os._exit(main())
