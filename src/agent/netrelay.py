# The allowlist network policy's end in the box: 127.0.0.1:<port> in the box's own network namespace, each connection
# piped (relay.py) to the host proxy's Unix socket. It never connects anywhere but that socket.
import os

import relay

IDLE_S = 600.0  # a tunnel silent for ten minutes is closed


def start_from_env() -> relay.Relay | None:
    """Binds at once, so the port is ready before the agent says ready; None when the session has no such policy."""
    path = os.environ.get('SANDBOX_NET_PROXY_SOCKET')
    if not path:
        return None
    port = int(os.environ.get('SANDBOX_NET_RELAY_PORT') or 3128)
    return relay.tcp_to_unix(port, path, idle_s=IDLE_S)
