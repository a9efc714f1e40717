"""The IMAP listeners: asyncio sockets around the sans-I/O session.

How this works
--------------
Each accepted connection gets a `Session` (services/imap/protocol) and one
loop: read what the client sent, feed it to the session, act on the events
it returns (log in through the directory, stream APPEND data into the blob
store, run a command against storage), write the responses.

- Backpressure: the socket is read only while `session.reading` is true, so
  a client that pipelines commands waits in its own TCP window while one of
  its commands runs. Every buffer is bounded by the core's `Limits`.
- Writes wait for the socket with a timeout: a client that never reads costs
  one stalled task until it is dropped, never a stalled server. FETCH data
  is written message by message as it is produced.
- Timeouts: before login `preauth_timeout`, after it the autologout timer
  (RFC 9051 section 5.4: at least 30 minutes) from the last command; IDLE
  does not reset it, so a client re-issues IDLE within that time.
- Updates: after login the connection subscribes to
  `storage.mailbox.changed.<account>`; an event for the selected mailbox
  marks it stale and wakes an idling connection, which sends EXISTS,
  EXPUNGE and FETCH FLAGS at once (SelectedMailbox in `_mailbox`).
- STARTTLS upgrades the stream in place; COMPRESS=DEFLATE (RFC 4978) runs
  raw deflate on both directions here, bounded on the way in: inflated data
  is fed in pieces of at most READ_SIZE octets.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
import uuid
import zlib
from dataclasses import dataclass
from typing import Any

from libs.auth.directory_client import AuthOutcome, DirectoryAuth
from libs.blobs import BlobStore
from libs.bus import Bus
from libs.log import get_logger
from libs.netlimits import ConnectionLimiter
from services.imap import _auth, _mailboxes, _messages, _metrics, _store
from services.imap._context import Completion, Context
from services.imap._mailbox import MailboxGone
from services.imap._upload import Upload
from services.imap.protocol import (
    NEED_DATA,
    AppendAborted,
    AppendDataChunk,
    AppendDataEnded,
    AppendDataStarted,
    Authenticate,
    AuthResponse,
    CommandReceived,
    CompressionRequested,
    ConnectionLost,
    Event,
    GreetingNeeded,
    IdleDone,
    Login,
    LogoutReceived,
    Mode,
    Session,
    SessionClosed,
    SessionConfig,
    StartTlsRequested,
    State,
    responses,
)
from services.imap.protocol import commands as c

READ_SIZE = 64 * 1024

HANDLERS: dict[type[c.Command], Any] = {
    c.List: _mailboxes.handle_list, c.Lsub: _mailboxes.handle_list, c.Status: _mailboxes.handle_status,
    c.Select: _mailboxes.handle_select, c.Create: _mailboxes.handle_create, c.Delete: _mailboxes.handle_delete,
    c.Rename: _mailboxes.handle_rename, c.Subscribe: _mailboxes.handle_subscribe,
    c.Unsubscribe: _mailboxes.handle_subscribe, c.Namespace: _mailboxes.handle_namespace,
    c.GetQuota: _mailboxes.handle_getquota, c.GetQuotaRoot: _mailboxes.handle_getquotaroot,
    c.SetQuota: _mailboxes.handle_setquota,
    c.Fetch: _messages.handle_fetch, c.Store: _messages.handle_store, c.Copy: _messages.handle_copy,
    c.Move: _messages.handle_copy, c.Expunge: _messages.handle_expunge, c.Close: _messages.handle_close,
    c.Unselect: _messages.handle_close, c.Check: _messages.handle_check, c.Noop: _messages.handle_check,
    c.Search: _messages.handle_search, c.Sort: _messages.handle_sort, c.Thread: _messages.handle_thread,
    c.Append: _messages.handle_append,
}  # fmt: skip

#: RFC 9051 section 7.5.1: no EXPUNGE while answering FETCH, STORE or SEARCH (the UID forms may).
_NO_EXPUNGE = (c.Fetch, c.Store, c.Search, c.Sort, c.Thread)


@dataclass(frozen=True)
class Timeouts:
    preauth: float = 60.0
    autologout: float = 1800.0
    write: float = 60.0
    tls_handshake: float = 60.0


@dataclass(frozen=True)
class Listener:
    """One port: its name (imap, imaps), the session settings, TLS."""

    name: str
    port: int
    config: SessionConfig
    ssl_context: ssl.SSLContext | None = None
    implicit_tls: bool = False


class _Closing(Exception):
    """The connection is over; close the socket."""


class Connection:
    def __init__(
        self, *, listener: Listener, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, bus: Bus,
        blobs: BlobStore, login: DirectoryAuth, timeouts: Timeouts, peer: str,
        account_limiter: ConnectionLimiter | None = None,
    ) -> None:  # fmt: skip
        self.account_limiter = account_limiter
        self._account: str | None = None
        self.listener = listener
        self.reader = reader
        self.writer = writer
        self.bus = bus
        self.login = login
        self.timeouts = timeouts
        self.peer = peer
        self.session_id = uuid.uuid4().hex[:16]
        self.session = Session(listener.config)
        self.log = get_logger(session_id=self.session_id, peer=peer, listener=listener.name)
        self.ctx = Context(
            session=self.session, blobs=blobs, emit=self._emit, write=self._write_raw,
            append_limit=listener.config.limits.append_limit,
        )  # fmt: skip
        self._uploads: dict[int, Upload] = {}
        self.sasl = _auth.SaslExchange(login, client_address=peer)
        self._subscription: Any = None
        self._wake = asyncio.Event()
        self.stopping = asyncio.Event()
        self._pending_bye: str | None = None
        self._read_task: asyncio.Task[bytes] | None = None
        self._deadline = 0.0
        self._idling = False
        self._deflate: Any = None
        self._inflate: Any = None
        self._inflate_tail = b""

    # --- the loop -------------------------------------------------------------------------------

    async def run(self) -> None:
        self.log.info("imap.session.started")
        try:
            await self._loop()
        except _Closing:
            pass
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError) as exc:
            self.log.info("imap.session.connection_error", error=repr(exc))
        except Exception:
            self.log.exception("imap.session.failed")
        finally:
            await self._cleanup()
            self.log.info("imap.session.ended")

    async def _cleanup(self) -> None:
        if self._idling:
            _metrics.IDLING.dec()
        for upload in self._uploads.values():
            await upload.abort()
        if self._read_task is not None:
            self._read_task.cancel()
        if self._subscription is not None:
            with contextlib.suppress(Exception):
                await self._subscription.unsubscribe()
        if self._account is not None and self.account_limiter is not None:
            self.account_limiter.release(self._account)
        self.writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.writer.wait_closed(), 5)

    async def _loop(self) -> None:
        self._touch()
        while True:
            while (event := self.session.next_event()) is not NEED_DATA:
                await self._write(await self._act(event))
                if isinstance(event, LogoutReceived | SessionClosed | ConnectionLost):
                    await self._write(self.session.data_to_send())
                    raise _Closing
            await self._write(self.session.data_to_send())
            if self.session.mode is Mode.CLOSED:
                raise _Closing
            self.session.receive_data(await self._input())

    def _touch(self) -> None:
        authenticated = self.session.state is not State.NOT_AUTHENTICATED
        self._deadline = time.monotonic() + (self.timeouts.autologout if authenticated else self.timeouts.preauth)

    async def _input(self) -> bytes:
        """The next plaintext octets from the client (b"" at its end); sends IDLE updates meanwhile."""
        while True:
            if self._inflate is not None and self._inflate_tail:
                data = self._inflate_piece(b"")
                if data:
                    return data
            raw = await self._read_raw()
            if not raw or self._inflate is None:
                return raw
            data = self._inflate_piece(raw)
            if data:
                return data

    async def _read_raw(self) -> bytes:
        if self._pending_bye is not None:
            await self._say_goodbye(self._pending_bye)
        if self._read_task is None:
            self._read_task = asyncio.ensure_future(self.reader.read(READ_SIZE))
        while True:
            remaining = self._deadline - time.monotonic()
            if remaining <= 0:
                await self._timeout()
            stop = asyncio.ensure_future(self.stopping.wait())
            waits: set[asyncio.Future[Any]] = {self._read_task, stop}
            wake = None
            if self._idling:
                wake = asyncio.ensure_future(self._wake.wait())
                waits.add(wake)
            done, _ = await asyncio.wait(waits, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
            for waiter in (wake, stop):
                if waiter is not None and not waiter.done():
                    waiter.cancel()
            if stop in done:
                await self._say_goodbye("Server shutting down, please reconnect")
            if self._read_task in done:
                task, self._read_task = self._read_task, None
                return task.result()
            if wake is not None and wake in done:
                self._wake.clear()
                await self._send_updates(allow_expunge=True)
                if self._pending_bye is not None:
                    await self._say_goodbye(self._pending_bye)

    async def _timeout(self) -> None:
        self.log.info("imap.session.timeout", state=self.session.state.name)
        await self._say_goodbye("Autologout; idle for too long")

    async def _say_goodbye(self, text: str) -> None:
        """``* BYE`` between commands (or during IDLE) and close (RFC 9051 section 7.1.5)."""
        with contextlib.suppress(Exception):
            await self._write(self.session.bye(text))
        raise _Closing

    async def _write(self, data: bytes) -> None:
        if not data:
            return
        if self._deflate is not None:
            data = self._deflate.compress(data) + self._deflate.flush(zlib.Z_SYNC_FLUSH)
        self.writer.write(data)
        try:
            await asyncio.wait_for(self.writer.drain(), self.timeouts.write)
        except TimeoutError:
            self.log.info("imap.session.write_timeout")
            self.writer.transport.abort()
            raise _Closing from None

    async def _write_raw(self, data: bytes) -> None:
        if self.session.mode is Mode.CLOSED:
            raise _Closing
        await self._write(data)

    async def _emit(self, *items: responses.Response) -> None:
        await self._write(self.session.untagged(*items))

    # --- events ----------------------------------------------------------------------------------

    async def _act(self, event: Event) -> bytes:
        session = self.session
        match event:
            case GreetingNeeded():
                return session.accept()
            case CommandReceived(command=Login() as command):
                self._touch()
                return await self._login(command)
            case CommandReceived(command=Authenticate() as command):
                self._touch()
                return await self._authenticate(command.mechanism, command.initial_response, first=True)
            case AuthResponse(mechanism=mechanism, data=data):
                return await self._authenticate(mechanism, data, first=False)
            case CommandReceived(command=c.Idle()):
                self._touch()
                self._idling = True
                _metrics.IDLING.inc()
                self._wake.clear()
                await self._send_updates(allow_expunge=True)
                return b""
            case IdleDone(cancelled=cancelled):
                self._idling = False
                _metrics.IDLING.dec()
                self._touch()
                return b"" if cancelled else session.ok("IDLE terminated")
            case CommandReceived(command=command):
                self._touch()
                return await self._command(command)
            case AppendDataStarted(index=index):
                self._uploads[index] = Upload(self.ctx.blobs)
                return b""
            case AppendDataChunk(index=index, data=data):
                await self._uploads[index].add(data)
                return b""
            case AppendDataEnded(index=index):
                self.ctx.uploads[index] = await self._uploads.pop(index).finish()
                return b""
            case AppendAborted():
                for upload in self._uploads.values():
                    await upload.abort()
                self._uploads.clear()
                self.ctx.uploads.clear()
                return b""
            case StartTlsRequested():
                await self._start_tls()
                return b""
            case CompressionRequested():
                await self._write(session.data_to_send())
                self._start_compression()
                return b""
            case ConnectionLost():
                self.log.info("imap.session.peer_closed")
                return b""
            case _:
                return b""

    async def _command(self, command: c.Command) -> bytes:
        started = time.monotonic()
        handler = HANDLERS.get(type(command))
        if handler is None:
            # ACL (RFC 4314) is not offered; its commands are refused the same way everywhere.
            completion = Completion("NO", f"{command.name} is not supported", responses.code("CANNOT"))
        else:
            if isinstance(command, c.Noop) and self.ctx.selected is not None:
                self.ctx.selected.stale = True  # NOOP is how clients poll: look, even without events
            completion = await handler(self.ctx, command)
        if completion.status != "BAD":
            no_expunge = isinstance(command, _NO_EXPUNGE) and not getattr(command, "uid", False)
            await self._send_updates(allow_expunge=not no_expunge)
        name = command.name
        _metrics.COMMANDS.labels(name, completion.status).inc()
        _metrics.COMMAND_SECONDS.labels(name).observe(time.monotonic() - started)
        if completion.status != "OK":
            self.log.info("imap.command.refused", command=name, status=completion.status, text=completion.text)
        return self.session.complete(completion.status, completion.text, completion.code)

    async def _send_updates(self, *, allow_expunge: bool) -> None:
        mailbox, store = self.ctx.selected, self.ctx.store
        if mailbox is None or store is None or not mailbox.pending:
            return
        try:
            updates = await mailbox.updates(
                store, allow_expunge=allow_expunge, condstore=self.session.condstore, qresync=self.session.qresync
            )
        except MailboxGone:
            # RFC 9051 section 7.1.5: BYE when the server cannot go on with the selected mailbox.
            self.log.info("imap.mailbox.gone", mailbox=mailbox.name)
            self._pending_bye = "Selected mailbox was deleted"
            return
        except Exception as exc:  # storage away: the client hears about it at the next poll
            self.log.warning("imap.updates.failed", error=repr(exc))
            return
        if updates:
            await self._emit(*updates)

    # --- login -----------------------------------------------------------------------------------

    async def _login(self, command: Login) -> bytes:
        outcome = await self.login.authenticate(command.username, command.password, client_address=self.peer)
        return await self._logged_in(outcome, "LOGIN")

    async def _logged_in(self, outcome: AuthOutcome, mechanism: str) -> bytes:
        result = "ok" if outcome.ok else str(outcome.problem or "invalid")
        _metrics.LOGINS.labels(mechanism, result).inc()
        if outcome.account is None:
            self.log.info("imap.login.failed", mechanism=mechanism, reason=result)
            text, response_code = _auth.refusal(outcome)
            return self.session.no(text, response_code)
        account = outcome.account
        if self.account_limiter is not None and not self.account_limiter.acquire(account):
            self.log.info("imap.login.too_many_sessions", account=account)
            return self.session.no("Too many sessions of this account", responses.code("LIMIT"))
        self._account = account
        self.ctx.store = _store.Store(self.bus, account)
        self.log = self.log.bind(account=account)
        with contextlib.suppress(Exception):
            self._subscription = await self.bus.nc.subscribe(
                _store.mailbox_changed_subject(account), cb=self._on_change
            )
        self.log.info("imap.login.succeeded", mechanism=mechanism)
        out = self.session.login_succeeded(account)
        self._touch()
        return out

    async def _on_change(self, msg: Any) -> None:
        mailbox = self.ctx.selected
        if mailbox is None:
            return
        try:
            event = _store.parse_change(msg.data)
        except ValueError:
            return
        if mailbox.apply(event):
            self._wake.set()

    async def _authenticate(self, mechanism: str, data: bytes | None, *, first: bool) -> bytes:
        result = await self.sasl.step(self.session, mechanism, data, first=first)
        if isinstance(result, AuthOutcome):
            return await self._logged_in(result, mechanism)
        return result

    # --- TLS and compression ------------------------------------------------------------------------

    async def _start_tls(self) -> None:
        context = self.listener.ssl_context
        if context is None:  # the core offers STARTTLS only with tls_available
            raise _Closing
        # RFC 9051 section 6.2.1 / CVE-2011-0411: plaintext that followed the command is dropped;
        # the OK is written and TLS started without yielding to the loop in between.
        buffered = getattr(self.reader, "_buffer", None)
        if buffered:
            buffered.clear()
        self.writer.write(self.session.data_to_send())
        try:
            await self.writer.start_tls(context, ssl_handshake_timeout=self.timeouts.tls_handshake)
        except (ssl.SSLError, ConnectionError, TimeoutError) as exc:
            self.log.info("imap.tls.failed", error=repr(exc))
            raise _Closing from None
        self.session.start_tls()
        self.log.info("imap.tls.started")

    def _start_compression(self) -> None:
        # RFC 4978 section 4: raw deflate (no zlib header), flushed at every response.
        self._deflate = zlib.compressobj(6, zlib.DEFLATED, -15)
        self._inflate = zlib.decompressobj(-15)
        pending = self.session.start_compression()
        buffered = getattr(self.reader, "_buffer", None)
        if buffered:  # compressed octets already read into the stream's buffer
            pending += bytes(buffered)
            buffered.clear()
        self._inflate_tail = b""
        if pending:
            self.session.receive_data(self._inflate_piece(pending) or b"")
        self.log.info("imap.compression.started")

    def _inflate_piece(self, raw: bytes) -> bytes:
        data = self._inflate_tail + raw if raw else self._inflate_tail
        try:
            out = self._inflate.decompress(data, READ_SIZE)
        except zlib.error:
            self.log.info("imap.compression.corrupt")
            raise _Closing from None
        self._inflate_tail = self._inflate.unconsumed_tail
        return bytes(out)


class ImapServer:
    """All listeners of one process, sharing the bus, blob store and connection counter."""

    def __init__(
        self, listeners: list[Listener], *, host: str, bus: Bus, blobs: BlobStore, timeouts: Timeouts,
        max_connections_per_client: int, max_connections_per_account: int = 50,
    ) -> None:  # fmt: skip
        self.listeners = listeners
        self.account_limiter = ConnectionLimiter(max_connections_per_account)
        self.host = host
        self.bus = bus
        self.blobs = blobs
        self.login = _auth.directory_login(bus)
        self.timeouts = timeouts
        self.limiter = ConnectionLimiter(max_connections_per_client)
        self._servers: list[asyncio.Server] = []
        self._connections: set[asyncio.Task[Any]] = set()
        self._sessions: set[Connection] = set()

    @property
    def serving(self) -> bool:
        return bool(self._servers) and all(s.is_serving() for s in self._servers)

    async def start(self) -> None:
        for listener in self.listeners:
            server = await asyncio.start_server(
                lambda r, w, listener=listener: self._accept(listener, r, w),
                host=self.host,
                port=listener.port,
                ssl=listener.ssl_context if listener.implicit_tls else None,
                ssl_handshake_timeout=self.timeouts.tls_handshake if listener.implicit_tls else None,
                limit=READ_SIZE,
            )
            self._servers.append(server)

    async def _accept(self, listener: Listener, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peername = writer.get_extra_info("peername")
        peer = str(peername[0]) if isinstance(peername, tuple) else str(peername)
        if not self.limiter.acquire(peer):
            get_logger(peer=peer, listener=listener.name).info("imap.session.too_many_connections")
            _metrics.REFUSED_CONNECTIONS.labels(listener.name).inc()
            with contextlib.suppress(Exception):
                writer.write(b"* BYE [UNAVAILABLE] Too many connections from your address\r\n")
                await asyncio.wait_for(writer.drain(), 5)
            writer.transport.abort()
            return
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        _metrics.SESSIONS.labels(listener.name).inc()
        _metrics.OPEN_SESSIONS.labels(listener.name).inc()
        connection = Connection(
            listener=listener, reader=reader, writer=writer, bus=self.bus, blobs=self.blobs,
            login=self.login, timeouts=self.timeouts, peer=peer, account_limiter=self.account_limiter,
        )  # fmt: skip
        try:
            self._sessions.add(connection)
            await connection.run()
        finally:
            self._sessions.discard(connection)
            _metrics.OPEN_SESSIONS.labels(listener.name).dec()
            self.limiter.release(peer)
            if task is not None:
                self._connections.discard(task)

    async def close(self, grace: float = 2.0) -> None:
        """Stop accepting; sessions say BYE once their command is done, `grace` seconds at most."""
        for server in self._servers:
            server.close()
        for connection in self._sessions:
            connection.stopping.set()
        if self._connections:
            _, pending = await asyncio.wait(set(self._connections), timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        for server in self._servers:
            with contextlib.suppress(Exception):
                await server.wait_closed()
