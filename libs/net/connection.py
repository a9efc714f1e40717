"""One accepted TCP connection, as a line-protocol front end (SMTP, POP3, IMAP) uses it.

How this works
--------------
`_StreamProtocol` is the asyncio protocol under the connection; `Connection`
owns the bytes. What the socket delivers waits in a bounded buffer until the
front end asks for it with `read()`. The front end pulls: while it works on a
command it does not read, the buffer fills, and past `buffer_limit` the
transport stops reading the socket, so a client that pipelines faster than we
answer is held back by its own TCP window (backpressure), never by our memory.
`write()` hands bytes to the transport and waits, with a timeout, until the
transport's buffer is below its high-water mark; a client that never reads
costs one stalled task until the timeout aborts the connection.

STARTTLS (RFC 3207, RFC 2595 STLS, RFC 3501 section 6.2.1) is done with
`loop.start_tls` on the same transport and this same protocol object. The
buffer is ours, so the bytes that arrived after the command, in plaintext, are
dropped here before the upgrade (CVE-2011-0411) and nothing read before the
handshake can ever be returned as if it came under TLS. Between the go-ahead
reply and `loop.start_tls` nothing yields to the event loop, and
`loop.start_tls` stops reading the socket before its first await, so the
client's ClientHello goes to the TLS layer, never into the plaintext buffer.

Filters (`StreamFilter`) sit between TLS and the buffer: each received chunk
is decoded, each written chunk encoded. They are the seam for IMAP
COMPRESS=DEFLATE (RFC 4978, `libs.net.deflate`), which layers compression on
the stream after the tagged OK. A filter may hold decoded output back (to
bound what one small input expands to); `read()` asks it for more with
`decode(b"")` whenever the buffer is empty, before waiting for the socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar, cast

from libs.log import get_logger

if TYPE_CHECKING:
    from libs.net.server import Listener

READ_SIZE = 64 * 1024
BUFFER_LIMIT = 2 * READ_SIZE  # received bytes held before the socket is no longer read
CLOSE_TIMEOUT = 5.0

ConfigT = TypeVar("ConfigT")


class ReadTimeout(Exception):
    """Nothing arrived in time. The connection is still open: the front end may say goodbye."""


class WriteTimeout(Exception):
    """The client did not take our bytes in time. The connection is already aborted."""


class TlsFailed(Exception):
    """The TLS handshake after STARTTLS failed or timed out. The connection is already closed."""


class StreamCorrupt(ConnectionError):
    """A filter could not decode what the client sent. The connection is already aborted."""


class StreamFilter(Protocol):
    """A transformation of the byte stream above TLS (IMAP COMPRESS=DEFLATE, RFC 4978).

    `decode` gets every chunk received from the client and returns the bytes the
    protocol sees (possibly none yet); `encode` gets every chunk the protocol
    writes and returns what goes to the client. Both keep their own state.
    `decode` may return less than its input is worth and keep the rest: it is
    called again with b"" when the connection wants more. It raises
    `StreamCorrupt` on input it cannot decode.
    """

    def decode(self, data: bytes) -> bytes: ...

    def encode(self, data: bytes) -> bytes: ...


class _Flag:
    """`asyncio.Event`'s set/clear/is_set/wait, with its waiters in a list.

    Every connection keeps two of these for as long as it is open, nearly always
    with no waiter; an empty deque (asyncio.Event's) costs about 600 bytes more
    than an empty list, which is measurable with thousands of idle connections.
    """

    __slots__ = ("_value", "_waiters")

    def __init__(self) -> None:
        self._value = False
        self._waiters: list[asyncio.Future[None]] = []

    def is_set(self) -> bool:
        return self._value

    def set(self) -> None:
        self._value = True
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self._value = False

    async def wait(self) -> None:
        if self._value:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            self._waiters.remove(waiter)


class Connection(Generic[ConfigT]):
    """One client: buffered reads, flow-controlled writes, STARTTLS, filters.

    Only one task reads at a time; any task may write (an IMAP session writes
    untagged updates during IDLE while its reader waits for DONE).
    """

    def __init__(
        self,
        *,
        listener: Listener[ConfigT],
        transport: asyncio.Transport,
        protocol: _StreamProtocol,
        session_id: str,
        buffer_limit: int = BUFFER_LIMIT,
    ) -> None:
        self.listener = listener
        self.session_id = session_id
        self.peer = _peer(transport)
        self.log = get_logger(session_id=session_id, peer=self.peer, listener=listener.name)
        self.waiting = False  # inside read(): waiting for the client, safe to cut at shutdown
        self.cut_when_idle = False  # shutdown: end the session instead of waiting for the client
        self._transport = transport
        self._protocol = protocol
        self._tls = transport.get_extra_info("sslcontext") is not None
        self._buffer = bytearray()
        self._buffer_limit = buffer_limit
        self._reading_paused = False
        self._eof = False
        self._lost = False
        self._error: BaseException | None = None
        self._readable = _Flag()
        self._writable = _Flag()
        self._writable.set()
        self._filters: list[StreamFilter] = []

    # --- what the front end calls ------------------------------------------------------

    @property
    def tls_active(self) -> bool:
        return self._tls

    @property
    def buffered(self) -> int:
        """Received bytes not yet returned by `read()`."""
        return len(self._buffer)

    async def read(self, *, timeout: float, max_bytes: int = READ_SIZE) -> bytes:
        """Up to `max_bytes` received bytes, as soon as there are any; b"" once the client closed.

        Raises `ReadTimeout` when nothing arrives within `timeout` seconds (each
        call may pass another: the timeout's meaning belongs to the protocol), and
        the socket's error (ConnectionError, ssl.SSLError) if the connection broke.
        """
        self.waiting = True
        try:
            while not self._buffer:
                self._pull_filtered()
                if self._buffer or self._eof:
                    break
                if self.cut_when_idle:
                    # Shutting down: a session that finished its command is cut as an idle one is.
                    raise asyncio.CancelledError
                self._readable.clear()
                try:
                    await asyncio.wait_for(self._readable.wait(), timeout)
                except TimeoutError:
                    raise ReadTimeout from None
        finally:
            self.waiting = False
        if not self._buffer:
            if self._error is not None:
                raise self._error
            return b""
        data = bytes(self._buffer[:max_bytes])
        del self._buffer[:max_bytes]
        if self._reading_paused and len(self._buffer) <= self._buffer_limit // 2:
            self._reading_paused = False
            self._transport.resume_reading()
        return data

    async def write(self, data: bytes, *, timeout: float) -> None:
        """Send `data` and wait until the transport has room again (at most `timeout` seconds).

        On timeout the connection is aborted and `WriteTimeout` raised.
        """
        if not data:
            return
        if self._lost:
            raise ConnectionResetError("Connection lost")
        for f in self._filters:
            data = f.encode(data)
        self._transport.write(data)
        await self._drain(timeout)

    async def start_tls(self, context: ssl.SSLContext, *, reply: bytes, handshake_timeout: float) -> int:
        """Write `reply` (the go-ahead, in plaintext) and upgrade this connection to TLS.

        Returns how many received octets were dropped: they followed the command
        in plaintext and must never be read as if they came under TLS (RFC 3207
        section 4.2, RFC 2595 section 4). The protocol core drops what it has
        buffered itself. Raises `TlsFailed` (connection closed) if the handshake
        fails or takes longer than `handshake_timeout`.
        """
        if self._tls or self._filters:
            # RFC 4978 section 4: no STARTTLS over COMPRESS; and never TLS in TLS.
            raise RuntimeError("STARTTLS on a connection that already has TLS or a filter")
        discarded = len(self._buffer)
        self._buffer.clear()
        # No await from here to loop.start_tls, which pauses reading before its first await.
        self._transport.write(reply)
        self._reading_paused = False  # loop.start_tls resumes reading on the TLS transport
        loop = asyncio.get_running_loop()
        try:
            transport = await loop.start_tls(
                self._transport, self._protocol, context, server_side=True, ssl_handshake_timeout=handshake_timeout
            )
        except (OSError, ssl.SSLError, TimeoutError) as exc:
            self.abort()
            raise TlsFailed(repr(exc)) from exc
        if transport is None:  # the connection closed during the handshake
            self.abort()
            raise TlsFailed("connection closed during the TLS handshake")
        self._transport = transport  # type: ignore[assignment]
        self._tls = True
        return discarded

    def add_filter(self, stream_filter: StreamFilter, *, already_received: bytes = b"") -> None:
        """Layer `stream_filter` on the stream from now on (after the reply that announced it).

        Everything received after the command that started the filter is filtered
        data: `already_received` (what the protocol core had buffered beyond the
        command, e.g. the IMAP session's `start_compression()`) and then what this
        connection has buffered, decoded in that order into the read buffer.
        """
        self._filters.append(stream_filter)
        received = already_received + bytes(self._buffer)
        self._buffer.clear()
        self._take_decoded(received, self._filters[-1:])

    async def refuse(self, reply: bytes) -> None:
        """Say why (before any session) and drop the connection."""
        with contextlib.suppress(Exception):
            await self.write(reply, timeout=CLOSE_TIMEOUT)
        self.abort()

    def abort(self) -> None:
        """Drop the connection at once: no TLS close_notify with a client that may not answer."""
        self._transport.abort()

    async def close(self) -> None:
        """Close politely (flush, TLS close_notify), waiting at most a few seconds."""
        if self._lost:
            return
        self._transport.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._protocol.closed, CLOSE_TIMEOUT)
        if not self._lost:
            self._transport.abort()

    # --- what the protocol below calls --------------------------------------------------

    def _received(self, data: bytes) -> None:
        self._take_decoded(data, self._filters)

    def _take_decoded(self, data: bytes, filters: list[StreamFilter]) -> None:
        """Decode `data` through `filters` into the buffer; a corrupt stream ends the connection."""
        try:
            for f in filters:
                data = f.decode(data)
        except Exception as exc:
            error = exc if isinstance(exc, StreamCorrupt) else StreamCorrupt(repr(exc))
            self._buffer.clear()
            self._lost_connection(error)
            self._transport.abort()
            return
        self._buffer += data
        self._readable.set()
        if not self._reading_paused and len(self._buffer) > self._buffer_limit:
            self._reading_paused = True
            with contextlib.suppress(RuntimeError):
                self._transport.pause_reading()

    def _pull_filtered(self) -> None:
        """Output the filters held back (decode(b"")); nothing without filters."""
        if self._filters and not self._error:
            self._take_decoded(b"", self._filters)

    def _received_eof(self) -> None:
        self._eof = True
        self._readable.set()

    def _lost_connection(self, exc: BaseException | None) -> None:
        self._lost = self._eof = True
        self._error = self._error or exc  # a filter's StreamCorrupt comes first
        self._readable.set()
        self._writable.set()

    def _pause_writing(self) -> None:
        self._writable.clear()

    def _resume_writing(self) -> None:
        self._writable.set()

    async def _drain(self, timeout: float) -> None:
        if self._writable.is_set():
            return
        try:
            await asyncio.wait_for(self._writable.wait(), timeout)
        except TimeoutError:
            self.abort()
            raise WriteTimeout from None
        if self._lost:
            raise ConnectionResetError("Connection lost")


class _StreamProtocol(asyncio.Protocol):
    """Passes asyncio's callbacks to the `Connection`; the server makes one per socket."""

    def __init__(self, on_connected: Any) -> None:
        self._on_connected = on_connected
        self.connection: Connection[Any] | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Not an isinstance check: uvloop's transports do not subclass asyncio's.
        self.connection = self._on_connected(cast(asyncio.Transport, transport), self)

    def data_received(self, data: bytes) -> None:
        if self.connection is not None:
            self.connection._received(data)

    def eof_received(self) -> bool:
        if self.connection is not None:
            self.connection._received_eof()
            # Keep a plain TCP connection half-open so the last replies still go out;
            # over TLS asyncio closes anyway (and warns if asked not to).
            return not self.connection.tls_active
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if self.connection is not None:
            self.connection._lost_connection(exc)
        if not self.closed.done():
            self.closed.set_result(None)

    def pause_writing(self) -> None:
        if self.connection is not None:
            self.connection._pause_writing()

    def resume_writing(self) -> None:
        if self.connection is not None:
            self.connection._resume_writing()


def _peer(transport: asyncio.BaseTransport) -> str:
    peername = transport.get_extra_info("peername")
    return str(peername[0]) if isinstance(peername, tuple) else str(peername)
