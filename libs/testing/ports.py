"""Free TCP ports on the loopback interface for servers started by tests.

A port is found by binding to port 0 and letting the kernel choose. The
socket is closed again before the caller's server binds, so another process
could in principle take the port in between; on a test machine that window
is short enough, and the alternative (passing listening sockets into child
processes) is not supported by nats-server or PostgreSQL.
"""

from __future__ import annotations

import contextlib
import socket

LOOPBACK = "127.0.0.1"


def _bound_socket(host: str) -> socket.socket:
    """A TCP socket bound to a kernel-chosen port on `host`."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((host, 0))
    except OSError:
        sock.close()
        raise
    return sock


def free_port(host: str = LOOPBACK) -> int:
    """Return a TCP port on `host` that nothing listens on right now."""
    with _bound_socket(host) as sock:
        return int(sock.getsockname()[1])


def free_ports(count: int, host: str = LOOPBACK) -> list[int]:
    """Return `count` distinct free TCP ports on `host`.

    All sockets stay bound until every port is chosen: calling `free_port`
    in a loop could hand out the same port twice, because a closed port is
    immediately free for the kernel to choose again.
    """
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(_bound_socket(host)) for _ in range(count)]
        return [int(sock.getsockname()[1]) for sock in sockets]
