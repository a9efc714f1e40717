"""SIP over UDP, TCP and TLS, on IPv4 and IPv6: sockets in, whole messages out (RFC 3261 section 18).

The transport knows bytes and peers, nothing of SIP beyond framing: a
datagram, or a message cut from a stream by `StreamFramer`, goes to
`on_message(data, peer)`; the core parses it. Over streams it answers
RFC 5626 keep-alive pings (CRLF CRLF -> CRLF) and keeps a table of open
connections by remote address, so a response or a request to a registered
contact goes back over the connection the peer opened (section 18.2.2, RFC
5626: NATed phones are reachable only that way). A new connection is opened
only when none is left (TCP; TLS towards a peer is opened on demand too).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
import ssl
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from libs.log import get_logger
from services.sip._websocket import CLOSE, FrameReader, WebSocketError, frame, handshake_reply
from services.sip.protocol import (
    NEED_DATA,
    PONG,
    FramingFailed,
    KeepAlivePing,
    Limits,
    MessageFramed,
    StreamFramer,
    error_response,
)

_log = get_logger()


@dataclass(frozen=True, slots=True)
class Peer:
    """Where a message came from or goes to. `conn` names the stream connection, if any."""

    transport: str  # "UDP", "TCP", "TLS" or "WS"
    host: str
    port: int
    conn: int | None = None

    @property
    def reliable(self) -> bool:
        return self.transport != "UDP"

    def text(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.transport.lower()}:{host}:{self.port}"


def parse_peer(text: str) -> Peer | None:
    """`udp:1.2.3.4:5060` / `tcp:[::1]:5060` back to a Peer (without a connection)."""
    transport, _, rest = text.partition(":")
    host, _, port = rest.rpartition(":")
    if not transport or not host or not port.isdigit():
        return None
    return Peer(transport.upper(), host.strip("[]"), int(port))


MessageHandler = Callable[[bytes, Peer], None]


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, owner: SipTransport) -> None:
        self.owner = owner
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple) -> None:  # type: ignore[type-arg]
        if not data.strip(b"\r\n"):
            return  # an RFC 5626 keep-alive over UDP (CRLF CRLF): nothing to parse
        self.owner.deliver(data, Peer("UDP", addr[0], addr[1]))

    def error_received(self, exc: Exception) -> None:
        _log.debug("sip.udp.error", error=repr(exc))


class _Connection:
    def __init__(self, owner: SipTransport, cid: int, transport_name: str, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:  # fmt: skip
        self.owner = owner
        self.cid = cid
        self.reader = reader
        self.writer = writer
        host, port = writer.get_extra_info("peername")[:2]
        self.peer = Peer(transport_name, host, port, cid)
        self.framer = StreamFramer(owner.limits)

    def write(self, data: bytes) -> None:
        if not self.writer.is_closing():
            self.writer.write(data)

    async def run(self) -> None:
        try:
            while True:
                try:
                    chunk = await asyncio.wait_for(self.reader.read(65536), self.owner.idle_timeout)
                except (TimeoutError, ConnectionError, ssl.SSLError, OSError):
                    return
                if not chunk:
                    return
                self.framer.receive_data(chunk)
                while (event := self.framer.next_event()) is not NEED_DATA:
                    if isinstance(event, MessageFramed):
                        self.owner.deliver(event.data, self.peer)
                    elif isinstance(event, KeepAlivePing):
                        self.write(PONG)  # RFC 5626 section 4.4.1
                    elif isinstance(event, FramingFailed):
                        reply = error_response(event.error)
                        if reply:
                            self.write(reply)
                        return
                with contextlib.suppress(Exception):
                    await self.writer.drain()
        finally:
            self.owner.forget(self)
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()


class _WsConnection(_Connection):
    """SIP over WebSocket (RFC 7118): the HTTP upgrade, then one SIP message per WebSocket message."""

    def write(self, data: bytes) -> None:
        if not self.writer.is_closing():
            self.writer.write(frame(data))

    async def run(self) -> None:
        try:
            try:
                head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), 10)
                self.writer.write(handshake_reply(head[:-4]))
            except (WebSocketError, asyncio.LimitOverrunError, asyncio.IncompleteReadError, TimeoutError,
                    OSError, ssl.SSLError):  # fmt: skip
                if not self.writer.is_closing():
                    self.writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                return
            frames = FrameReader(max_message=self.owner.limits.max_message_size)
            while not frames.closed:
                try:
                    chunk = await asyncio.wait_for(self.reader.read(65536), self.owner.idle_timeout)
                except (TimeoutError, ConnectionError, ssl.SSLError, OSError):
                    return
                if not chunk:
                    return
                try:
                    messages, replies = frames.receive(chunk)
                except WebSocketError as exc:
                    self.writer.write(frame(exc.code.to_bytes(2, "big"), CLOSE))
                    return
                for reply in replies:
                    self.writer.write(reply)
                for message in messages:
                    if message.strip(b"\r\n"):
                        self.owner.deliver(message, self.peer)
                with contextlib.suppress(Exception):
                    await self.writer.drain()
        finally:
            self.owner.forget(self)
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()


class SipTransport:
    def __init__(self, *, hosts: list[str], udp_port: int, tcp_port: int, tls_port: int,
                 tls_context: ssl.SSLContext | None, limits: Limits, on_message: MessageHandler,
                 idle_timeout: float = 900.0, max_connections_per_client: int = 50,
                 ws_port: int = 0) -> None:  # fmt: skip
        self.hosts = hosts
        self.udp_port = udp_port
        self.tcp_port = tcp_port
        self.tls_port = tls_port
        self.ws_port = ws_port
        self.tls_context = tls_context
        self.limits = limits
        self.on_message = on_message
        self.idle_timeout = idle_timeout
        self.max_per_client = max_connections_per_client
        self._udp: dict[int, _Datagrams] = {}  # address family -> endpoint
        self._servers: list[asyncio.AbstractServer] = []
        self._connections: dict[int, _Connection] = {}
        self._by_address: dict[tuple[str, str, int], int] = {}
        self._per_client: Counter[str] = Counter()
        self._ids = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()
        self.serving = False

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        for host in self.hosts:
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            if self.udp_port:
                _, protocol = await loop.create_datagram_endpoint(
                    lambda: _Datagrams(self), local_addr=(host, self.udp_port), family=family
                )
                self._udp.setdefault(family, protocol)
            if self.tcp_port:
                self._servers.append(await asyncio.start_server(self._accept("TCP"), host, self.tcp_port,
                                                                family=family, reuse_address=True))  # fmt: skip
            if self.tls_port and self.tls_context is not None:
                self._servers.append(await asyncio.start_server(self._accept("TLS"), host, self.tls_port,
                                                                family=family, ssl=self.tls_context,
                                                                reuse_address=True))  # fmt: skip
            if self.ws_port:
                self._servers.append(await asyncio.start_server(self._accept("WS"), host, self.ws_port,
                                                                family=family, reuse_address=True))  # fmt: skip
        self.serving = True

    def _accept(self, name: str) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], object]:
        async def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            host = writer.get_extra_info("peername")[0]
            if self._per_client[host] >= self.max_per_client:
                writer.close()
                return
            await self._track(name, reader, writer).run()

        return accepted

    def _track(self, name: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> _Connection:
        kind = _WsConnection if name == "WS" else _Connection
        connection = kind(self, next(self._ids), name, reader, writer)
        self._connections[connection.cid] = connection
        self._by_address[(name, connection.peer.host, connection.peer.port)] = connection.cid
        self._per_client[connection.peer.host] += 1
        return connection

    def forget(self, connection: _Connection) -> None:
        self._connections.pop(connection.cid, None)
        key = (connection.peer.transport, connection.peer.host, connection.peer.port)
        if self._by_address.get(key) == connection.cid:
            del self._by_address[key]
        self._per_client[connection.peer.host] -= 1
        if self._per_client[connection.peer.host] <= 0:
            del self._per_client[connection.peer.host]

    def deliver(self, data: bytes, peer: Peer) -> None:
        try:
            self.on_message(data, peer)
        except Exception:  # a bug in the core must not take the listener down
            _log.exception("sip.message.failed", peer=peer.text())

    def send(self, data: bytes, peer: Peer) -> None:
        """Write `data` to `peer`: on its connection if one is open, else a datagram or a new connection."""
        if peer.transport == "UDP":
            family = socket.AF_INET6 if ":" in peer.host else socket.AF_INET
            endpoint = self._udp.get(family)
            if endpoint is not None and endpoint.transport is not None:
                endpoint.transport.sendto(data, (peer.host, peer.port))
            return
        cid = peer.conn if peer.conn in self._connections else self._by_address.get(
            (peer.transport, peer.host, peer.port))  # fmt: skip
        if cid is not None and cid in self._connections:
            self._connections[cid].write(data)
            return
        if peer.transport == "WS":
            _log.info("sip.ws.gone", peer=peer.text())  # a WebSocket client is reached only on its connection
            return
        task = asyncio.get_running_loop().create_task(self._connect_and_send(data, peer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _connect_and_send(self, data: bytes, peer: Peer) -> None:
        try:
            context = None
            if peer.transport == "TLS":
                context = ssl.create_default_context()
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE  # peers' certificates are not checked yet (docs/sip.md)
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(peer.host, peer.port, ssl=context), timeout=10
            )
        except (OSError, TimeoutError, ssl.SSLError) as exc:
            _log.info("sip.connect.failed", peer=peer.text(), error=repr(exc))
            return
        connection = self._track(peer.transport, reader, writer)
        connection.write(data)
        await connection.run()

    def local_ports(self) -> set[int]:
        return {p for p in (self.udp_port, self.tcp_port, self.tls_port, self.ws_port) if p}

    async def close(self) -> None:
        self.serving = False
        for server in self._servers:
            server.close()
        for endpoint in self._udp.values():
            if endpoint.transport is not None:
                endpoint.transport.close()
        for connection in list(self._connections.values()):
            connection.writer.close()
        for task in list(self._tasks):
            task.cancel()
        for server in self._servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 2)
