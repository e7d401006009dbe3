# The agent's one way to log: a line on its stderr, which the server keeps with the box's log.
import os


def log(msg: str) -> None:
    try:
        os.write(2, (f'sandbox-agent: {msg}\n').encode('utf-8', 'replace'))
    except OSError:
        pass
