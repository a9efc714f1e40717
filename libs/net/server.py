"""The listening side shared by the line-protocol front ends (SMTP/LMTP, POP3, IMAP).

How this works
--------------
A `Server` listens on every port of its `Listener`s, on every configured
address (a wildcard, or several addresses such as an IPv4 and an IPv6 one),
in plaintext or with implicit TLS (whose handshake has a timeout; a client
that never finishes it is dropped before any protocol work). Each accepted
socket becomes a `Connection` served by its own task, with `session_id`,
`peer` and `listener` bound to every log line of that task. Before the
front end sees it, the front end may refuse it (`check_connection`, for
example a rate limit), and the per-address `ConnectionLimiter` refuses a
client that already has too many connections open; either way the refusal
reply is the front end's, written before the socket is dropped.

`close(grace)` stops accepting, cuts the sessions that are waiting for their
client (if the front end allows it: `cut_idle_on_close`), gives the others
`grace` seconds to finish the command at hand (and cuts each as soon as it
waits for its client again), then cuts what is left. A cut
is a task cancellation, so the front end's own clean-up runs.

The front end keeps everything protocol-specific: what to say, what the
timeouts mean, its metrics and its log event names.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic

from libs.log import bind_context
from libs.net.connection import BUFFER_LIMIT, ConfigT, Connection, _StreamProtocol
from libs.net.limits import ConnectionLimiter


@dataclass(frozen=True)
class Listener(Generic[ConfigT]):
    """One port: its name (mx, submission, pop3s...), the protocol's session settings, TLS."""

    name: str
    port: int
    config: ConfigT
    ssl_context: ssl.SSLContext | None = None  # for STARTTLS, or implicit TLS when `implicit_tls`
    implicit_tls: bool = False


class FrontEnd(Generic[ConfigT]):
    """What a protocol plugs into a `Server`: its session loop and its refusals.

    A front end builds its `Server` in `__init__` (as `self._server`) and is then
    started, watched and closed through the members below.
    """

    _server: Server[ConfigT]

    @property
    def listeners(self) -> list[Listener[ConfigT]]:
        return self._server.listeners

    @property
    def serving(self) -> bool:
        return self._server.serving

    async def start(self) -> None:
        await self._server.start()

    async def close(self, grace: float = 10.0) -> None:
        """Stop accepting, then end the sessions as the server's `cut_idle_on_close` says,
        cutting any still busy after `grace` seconds."""
        await self._server.close(grace)

    def check_connection(self, listener: Listener[ConfigT], peer: str) -> bytes | None:
        """Before the connection limit: a refusal to send and drop, or None to go on."""
        return None

    def too_many_connections(self, listener: Listener[ConfigT], peer: str) -> bytes:
        """The refusal for a client over the per-address connection limit."""
        raise NotImplementedError

    async def serve(self, connection: Connection[ConfigT]) -> None:
        """The session, from greeting to goodbye. The server closes the socket afterwards."""
        raise NotImplementedError


class Server(Generic[ConfigT]):
    """All listeners of one process, sharing the front end and the connection counter."""

    def __init__(
        self,
        listeners: Sequence[Listener[ConfigT]],
        *,
        hosts: str | Sequence[str] | None,
        front_end: FrontEnd[ConfigT],
        max_connections_per_client: int,
        tls_handshake_timeout: float = 60.0,
        cut_idle_on_close: bool = True,
        buffer_limit: int = BUFFER_LIMIT,
    ) -> None:
        self.listeners = list(listeners)
        self.hosts = hosts
        self.front_end = front_end
        self.limiter = ConnectionLimiter(max_connections_per_client)
        self.tls_handshake_timeout = tls_handshake_timeout
        self.cut_idle_on_close = cut_idle_on_close
        self.buffer_limit = buffer_limit
        self._servers: list[asyncio.Server] = []
        self._connections: dict[asyncio.Task[Any], Connection[ConfigT]] = {}

    @property
    def serving(self) -> bool:
        return bool(self._servers) and all(s.is_serving() for s in self._servers)

    @property
    def open_connections(self) -> int:
        return len(self._connections)

    def sockets(self, listener: Listener[ConfigT]) -> list[Any]:
        """The listening sockets of `listener` (to learn the port when it was 0)."""
        index = self.listeners.index(listener)
        return list(self._servers[index].sockets) if index < len(self._servers) else []

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        for listener in self.listeners:
            implicit = listener.implicit_tls and listener.ssl_context is not None
            server = await loop.create_server(
                lambda listener=listener: _StreamProtocol(lambda t, p, ln=listener: self._accepted(ln, t, p)),
                host=self.hosts,
                port=listener.port,
                ssl=listener.ssl_context if implicit else None,
                ssl_handshake_timeout=self.tls_handshake_timeout if implicit else None,
            )
            self._servers.append(server)

    def _accepted(
        self, listener: Listener[ConfigT], transport: asyncio.Transport, protocol: _StreamProtocol
    ) -> Connection[ConfigT]:
        session_id = uuid.uuid4().hex[:16]
        connection: Connection[ConfigT] = Connection(
            listener=listener, transport=transport, protocol=protocol, session_id=session_id,
            buffer_limit=self.buffer_limit,
        )  # fmt: skip
        task = asyncio.get_running_loop().create_task(self._serve(connection))
        self._connections[task] = connection
        task.add_done_callback(lambda t: self._connections.pop(t, None))
        return connection

    async def _serve(self, connection: Connection[ConfigT]) -> None:
        # This task runs in its own copy of the context: what is bound here tags every
        # log line of this session, also those of the policy and bus code it calls.
        listener, peer = connection.listener, connection.peer
        bind_context(session_id=connection.session_id, peer=peer, listener=listener.name)
        acquired = False
        try:
            refusal = self.front_end.check_connection(listener, peer)
            if refusal is not None:
                await connection.refuse(refusal)
                return
            if not self.limiter.acquire(peer):
                await connection.refuse(self.front_end.too_many_connections(listener, peer))
                return
            acquired = True
            await self.front_end.serve(connection)
        except asyncio.CancelledError:
            pass  # cut at shutdown; the front end has cleaned up
        except Exception:
            connection.log.exception("net.session.failed")
        finally:
            if acquired:
                self.limiter.release(peer)
            connection.abort()  # a no-op when the front end closed it already

    async def close(self, grace: float = 10.0) -> None:
        """Stop accepting, cut idle sessions (if allowed), give busy ones `grace` seconds, cut the rest."""
        for server in self._servers:
            server.close()
        if self.cut_idle_on_close:
            for task, connection in list(self._connections.items()):
                connection.cut_when_idle = True
                if connection.waiting:
                    task.cancel()
        if self._connections:
            _, pending = await asyncio.wait(set(self._connections), timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        for server in self._servers:
            with contextlib.suppress(Exception):
                await server.wait_closed()
