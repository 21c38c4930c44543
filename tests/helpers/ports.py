"""Free loopback ports for the servers the tests start."""

from __future__ import annotations

import random
import socket


def free_port() -> int:
    """A port free now, from the kernel's ephemeral range (for a server that binds it at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_port(low: int = 23000, high: int = 29999) -> int:
    """A free port for a server the tests start (and may restart on the same port), below the kernel's ephemeral
    range (32768 on), where any outgoing connection could take it between this check and the server's bind."""
    while True:
        port = random.randint(low, high)
        if port_free(port):
            return port


def port_free(port: int) -> bool:
    """Whether 127.0.0.1:`port` can be bound now."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False
