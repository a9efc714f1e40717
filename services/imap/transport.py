"""The IMAP listeners: `libs.net` sockets around the sans-I/O session.

How this works
--------------
The sockets are `libs.net`'s: it listens, accepts, limits connections per
address, reads and writes with timeouts, does the TLS upgrade and layers
COMPRESS=DEFLATE on the stream. This module is the IMAP front end on top.
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
  does not reset it, so a client re-issues IDLE within that time. The read
  waits for what is left of it and ends the session with `* BYE`.
- Updates: after login the connection subscribes to
  `storage.mailbox.changed.<account>`; an event for the selected mailbox
  marks it stale. During IDLE a second task sends EXISTS, EXPUNGE and FETCH
  FLAGS at once while the loop waits for DONE (`_lock` keeps its writes
  apart from the loop's); otherwise they go out after the next command.
- STARTTLS is `Connection.start_tls` (plaintext that followed the command is
  dropped by the connection and by the session); COMPRESS=DEFLATE (RFC 4978)
  is the `libs.net.Deflate` filter, bounded on the way in.
- Shutdown: sessions waiting for their client are cut at once, busy ones
  when their command is done; either way they hear `* BYE` first.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from dataclasses import dataclass
from typing import Any

from libs import net
from libs.auth.directory_client import AuthOutcome, DirectoryAuth
from libs.blobs import BlobStore
from libs.bus import Bus
from libs.log import get_logger
from libs.net import ConnectionLimiter, Deflate, Listener, ReadTimeout, StreamCorrupt, TlsFailed, WriteTimeout
from services.imap import _acl, _auth, _mailboxes, _messages, _metrics, _shared, _store
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
    c.Append: _messages.handle_append, **_acl.HANDLERS,
}  # fmt: skip

#: RFC 9051 section 7.5.1: no EXPUNGE while answering FETCH, STORE or SEARCH (the UID forms may).
_NO_EXPUNGE = (c.Fetch, c.Store, c.Search, c.Sort, c.Thread)

SHUTDOWN_BYE = "Server shutting down, please reconnect"
BYE_TIMEOUT = 5.0


@dataclass(frozen=True)
class Timeouts:
    preauth: float = 60.0
    autologout: float = 1800.0
    write: float = 60.0
    tls_handshake: float = 60.0


class _Closing(Exception):
    """The connection is over; close the socket."""


class Connection:
    """One client: the session, its login and subscription, and the socket (a `libs.net.Connection`)."""

    def __init__(
        self, *, stream: net.Connection[SessionConfig], bus: Bus, blobs: BlobStore, login: DirectoryAuth,
        timeouts: Timeouts, account_limiter: ConnectionLimiter | None = None,
    ) -> None:  # fmt: skip
        self.stream = stream
        self.account_limiter = account_limiter
        self._account: str | None = None
        self.listener = stream.listener
        self.bus = bus
        self.login = login
        self.timeouts = timeouts
        self.peer = stream.peer
        self.session_id = stream.session_id
        self.session = Session(self.listener.config)
        self.log = stream.log
        self.ctx = Context(
            session=self.session, blobs=blobs, emit=self._emit, write=self._write_raw,
            append_limit=self.listener.config.limits.append_limit,
        )  # fmt: skip
        self._uploads: dict[int, Upload] = {}
        self.sasl = _auth.SaslExchange(login, client_address=self.peer)
        self._subscription: Any = None
        #: The owner of the selected shared mailbox, whose events we follow too, and that subscription.
        self._followed: tuple[str, Any] | None = None
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()  # the loop's work and the IDLE updater's writes, one at a time
        self._idle_task: asyncio.Task[None] | None = None
        self._pending_bye: str | None = None
        self._deadline = 0.0
        self._idling = False
        self._waiting = False  # in read(): a cut here is a shutdown between commands

    # --- the loop -------------------------------------------------------------------------------

    async def run(self) -> None:
        self.log.info("imap.session.started")
        cut = False
        try:
            await self._loop()
        except _Closing:
            pass
        except asyncio.CancelledError:
            await self._stop_idle_updates()
            # Between commands or in IDLE a BYE is in order (RFC 9051 section 7.1.5), and the
            # connection is then closed politely; in the middle of a command it is just cut.
            cut = not self._waiting
            if self._waiting:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self._write_bye(SHUTDOWN_BYE), BYE_TIMEOUT)
            raise
        except WriteTimeout:
            self.log.info("imap.session.write_timeout")
        except TlsFailed as exc:
            self.log.info("imap.tls.failed", error=str(exc))
        except StreamCorrupt as exc:
            self.log.info("imap.compression.corrupt", error=str(exc))
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError) as exc:
            self.log.info("imap.session.connection_error", error=repr(exc))
        except Exception:
            self.log.exception("imap.session.failed")
        finally:
            await self._cleanup(cut=cut)
            self.log.info("imap.session.ended", cut=cut)

    async def _cleanup(self, *, cut: bool) -> None:
        await self._stop_idle_updates()
        if self._idling:
            _metrics.IDLING.dec()
        for upload in self._uploads.values():
            with contextlib.suppress(Exception):
                await upload.abort()
        await self._follow_owner(None)
        if self._subscription is not None:
            with contextlib.suppress(Exception):
                await self._subscription.unsubscribe()
        if self._account is not None and self.account_limiter is not None:
            self.account_limiter.release(self._account)
        if cut:
            self.stream.abort()  # no TLS close handshake with a client that may not answer
        else:
            await self.stream.close()

    async def _loop(self) -> None:
        self._touch()
        while True:
            async with self._lock:
                while (event := self.session.next_event()) is not NEED_DATA:
                    await self._write(await self._act(event))
                    if isinstance(event, LogoutReceived | SessionClosed | ConnectionLost):
                        await self._write(self.session.data_to_send())
                        raise _Closing
                await self._write(self.session.data_to_send())
                if self._pending_bye is not None:
                    await self._say_goodbye(self._pending_bye)
                if self.session.mode is Mode.CLOSED or not self.session.reading:
                    raise _Closing
            self.session.receive_data(await self._read())

    def _touch(self) -> None:
        authenticated = self.session.state is not State.NOT_AUTHENTICATED
        self._deadline = time.monotonic() + (self.timeouts.autologout if authenticated else self.timeouts.preauth)

    async def _read(self) -> bytes:
        """The next octets from the client (b"" at its end), within what is left of the timeout."""
        self._waiting = True  # stays set if the read is cut: the cut came between commands
        try:
            data = await self.stream.read(timeout=max(0.0, self._deadline - time.monotonic()))
        except ReadTimeout:
            self._waiting = False
            async with self._lock:  # the IDLE updater may be writing
                self.log.info("imap.session.timeout", state=self.session.state.name)
                await self._say_goodbye("Autologout; idle for too long")
            raise _Closing from None  # not reached: _say_goodbye raises it
        self._waiting = False
        return data

    async def _write_bye(self, text: str) -> None:
        await self._write(self.session.bye(text))

    async def _say_goodbye(self, text: str) -> None:
        """``* BYE`` between commands (or during IDLE) and close (RFC 9051 section 7.1.5)."""
        with contextlib.suppress(Exception):
            await self._write_bye(text)
        raise _Closing

    async def _write(self, data: bytes) -> None:
        await self.stream.write(data, timeout=self.timeouts.write)

    async def _write_raw(self, data: bytes) -> None:
        if self.session.mode is Mode.CLOSED:
            raise _Closing
        await self._write(data)

    async def _emit(self, *items: responses.Response) -> None:
        await self._write(self.session.untagged(*items))

    # --- IDLE ------------------------------------------------------------------------------------

    async def _idle_updates(self) -> None:
        """While the loop waits for DONE: send what changed as soon as the bus says so."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            async with self._lock:
                if not self._idling:
                    return
                await self._send_updates(allow_expunge=True)
                if self._pending_bye is not None:
                    # The loop is in read(): closing the stream ends it (ConnectionLost).
                    with contextlib.suppress(Exception):
                        await self._write_bye(self._pending_bye)
                    await self.stream.close()
                    return

    async def _stop_idle_updates(self) -> None:
        task, self._idle_task = self._idle_task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

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
                self._idle_task = asyncio.get_running_loop().create_task(self._idle_updates())
                return b""
            case IdleDone(cancelled=cancelled):
                self._idling = False
                _metrics.IDLING.dec()
                await self._stop_idle_updates()  # waiting for the wake-up or the lock: safe to stop
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
                # RFC 4978 section 4: compressed from the octet after the CRLF of the command on;
                # what the session had buffered beyond it is the first compressed data.
                self.stream.add_filter(Deflate(), already_received=session.start_compression())
                self.log.info("imap.compression.started")
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
            completion = Completion("NO", f"{command.name} is not supported", responses.code("CANNOT"))
        else:
            if isinstance(command, c.Noop) and self.ctx.selected is not None:
                self.ctx.selected.stale = True  # NOOP is how clients poll: look, even without events
            completion = await handler(self.ctx, command)
        if self.ctx.store is not None:
            selected = self.ctx.selected
            where = self.ctx.store.at(selected.name) if selected is not None else None
            await self._follow_owner(where.owner if where is not None and where.shared else None)
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

    async def _follow_owner(self, owner: str | None) -> None:
        """Subscribe to the events of the selected shared mailbox's owner (and only while it is
        selected): that is where storage tells of its changes."""
        if (self._followed[0] if self._followed else None) == owner:
            return
        if self._followed is not None:
            with contextlib.suppress(Exception):
                await self._followed[1].unsubscribe()
            self._followed = None
        if owner is not None:
            with contextlib.suppress(Exception):
                subscription = await self.bus.nc.subscribe(_store.mailbox_changed_subject(owner), cb=self._on_change)
                self._followed = (owner, subscription)

    async def _on_change(self, msg: Any) -> None:
        mailbox = self.ctx.selected
        if mailbox is None or self._account is None:
            return
        try:
            event = _shared.as_seen_by(self._account, _store.parse_change(msg.data))
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
        # RFC 9051 section 6.2.1 / CVE-2011-0411: plaintext that followed the command is never
        # read as if it came under TLS. The connection drops what it received, the session what
        # it had buffered.
        dropped = await self.stream.start_tls(
            context, reply=self.session.data_to_send(), handshake_timeout=self.timeouts.tls_handshake
        )
        dropped += self.session.start_tls()
        self.log.info("imap.tls.started", plaintext_dropped=dropped)


class ImapServer(net.FrontEnd[SessionConfig]):
    """All listeners of one process, sharing the bus, blob store and connection counters."""

    def __init__(
        self, listeners: list[Listener[SessionConfig]], *, host: str, bus: Bus, blobs: BlobStore,
        timeouts: Timeouts, max_connections_per_client: int, max_connections_per_account: int = 50,
    ) -> None:  # fmt: skip
        self.account_limiter = ConnectionLimiter(max_connections_per_account)
        self.bus = bus
        self.blobs = blobs
        self.login = _auth.directory_login(bus)
        self.timeouts = timeouts
        self._server = net.Server(
            listeners, hosts=host, front_end=self, max_connections_per_client=max_connections_per_client,
            tls_handshake_timeout=timeouts.tls_handshake, cut_idle_on_close=True,
        )  # fmt: skip

    async def close(self, grace: float = 2.0) -> None:
        """Stop accepting; sessions waiting for their client get `* BYE` at once, busy ones once
        their command is done (`grace` seconds at most)."""
        await self._server.close(grace)

    def too_many_connections(self, listener: Listener[SessionConfig], peer: str) -> bytes:
        get_logger(peer=peer, listener=listener.name).info("imap.session.too_many_connections")
        _metrics.REFUSED_CONNECTIONS.labels(listener.name).inc()
        return b"* BYE [UNAVAILABLE] Too many connections from your address\r\n"

    async def serve(self, connection: net.Connection[SessionConfig]) -> None:
        name = connection.listener.name
        _metrics.SESSIONS.labels(name).inc()
        _metrics.OPEN_SESSIONS.labels(name).inc()
        try:
            await Connection(
                stream=connection, bus=self.bus, blobs=self.blobs, login=self.login, timeouts=self.timeouts,
                account_limiter=self.account_limiter,
            ).run()  # fmt: skip
        finally:
            _metrics.OPEN_SESSIONS.labels(name).dec()
