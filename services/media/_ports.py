"""Even/odd UDP port pairs from the configured range: RTP on the even port, RTCP on the next
(RFC 3550 section 11). A pair is taken by binding both sockets; a port some other program
holds is skipped, and a released pair goes back to the pool at once."""

from __future__ import annotations

import socket

from libs.contracts.errors import Unavailable


class PortPool:
    def __init__(self, *, low: int, high: int, host: str) -> None:
        self.host = host
        first = low + (low % 2)
        self._pairs = list(range(first, high, 2))  # each even port whose odd partner is in range
        self._free = set(self._pairs)
        self._cursor = 0

    @property
    def capacity(self) -> int:
        return len(self._pairs)

    @property
    def in_use(self) -> int:
        return len(self._pairs) - len(self._free)

    def take(self) -> tuple[int, socket.socket, socket.socket]:
        """Bind the next free pair; `Unavailable` when none is left."""
        for _ in range(len(self._pairs)):
            port = self._pairs[self._cursor]
            self._cursor = (self._cursor + 1) % len(self._pairs)
            if port not in self._free:
                continue
            sockets = self._bind_pair(port)
            if sockets is not None:
                self._free.discard(port)
                return port, *sockets
        raise Unavailable(f"no free RTP port pair in {self._pairs[0]}-{self._pairs[-1] + 1}")

    def release(self, port: int) -> None:
        if port in self._pairs:
            self._free.add(port)

    def _bind_pair(self, port: int) -> tuple[socket.socket, socket.socket] | None:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        bound: list[socket.socket] = []
        try:
            for p in (port, port + 1):
                sock = socket.socket(family, socket.SOCK_DGRAM)
                bound.append(sock)
                _deep_buffers(sock)
                sock.bind((self.host, p))
                sock.setblocking(False)
        except OSError:
            for sock in bound:
                sock.close()
            return None
        return bound[0], bound[1]


SOCKET_BUFFER = 1 << 20


def _deep_buffers(sock: socket.socket) -> None:
    """Ask for 1 MiB socket buffers, which the kernel caps at net.core.rmem_max/wmem_max. The
    relay does not force the buffers above that cap: a longer queue only turns a relay
    thread's scheduling delays into late packets, and a phone's jitter buffer drops those anyway."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SOCKET_BUFFER)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SOCKET_BUFFER)
