"""The POP3 listeners: asyncio sockets around the sans-I/O session.

How this works
--------------
The sockets are `libs.net`'s: it listens, accepts, limits connections per
address, reads and writes with timeouts and does the TLS upgrade. This module
is the POP3 front end on top. Each accepted connection gets a `Session`
(services/pop3/protocol) and one loop: read what the client sent (with the
pre-login timeout, or the 10-minute autologout timer of RFC 1939 section 3
once logged in), feed it to the session, answer the questions it asks, write
the replies. A timeout closes the connection without a reply and without the
UPDATE state, as section 3 says.

Logging in asks the policy (policy.py) to check the credentials with the
directory, take the maildrop's lock and the scan listing; the lock is
released whenever the session ends. RETR and TOP stream the blob in pieces
through `MessageEncoder`, waiting for the socket after each piece, so a
message of any size costs about one piece of memory.

STLS (RFC 2595) upgrades the same connection (`Connection.start_tls`, which
drops the plaintext it had received after the command) and then tells the
session, which drops the plaintext it had buffered.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass

from libs import net
from libs.auth.directory_client import AuthOutcome
from libs.blobs import BlobError
from libs.log import get_logger
from libs.net import Listener, ReadTimeout, TlsFailed, WriteTimeout
from services.pop3 import _metrics
from services.pop3._lock import MaildropLock
from services.pop3._sasl import Challenge, SaslExchange
from services.pop3.policy import Backends, Pop3Policy, Refusal, refusal
from services.pop3.protocol import (
    NEED_DATA,
    AuthResponse,
    AuthStarted,
    ConnectionLost,
    Event,
    MessageEncoder,
    MessageRequested,
    PasswordReceived,
    ProtocolError,
    QuitReceived,
    Session,
    SessionConfig,
    SessionTerminated,
    StartTlsRequested,
    State,
    UpdateRequested,
    replies,
)


@dataclass(frozen=True)
class Timeouts:
    preauth: float = 60.0
    login: float = 300.0
    idle: float = 600.0
    write: float = 60.0
    tls_handshake: float = 60.0


class _Closing(Exception):
    """The connection is over; close the socket."""


class Connection:
    """One client: the session, its maildrop lock and the socket (a `libs.net.Connection`)."""

    def __init__(
        self,
        *,
        stream: net.Connection[SessionConfig],
        backends: Backends,
        timeouts: Timeouts,
    ) -> None:
        self.stream = stream
        self.listener = stream.listener
        self.backends = backends
        self.timeouts = timeouts
        self.peer = stream.peer
        self.session_id = stream.session_id
        self.session = Session(self.listener.config)
        self.log = stream.log
        self.policy = Pop3Policy(backends)
        self.sasl = SaslExchange(backends.directory, client_address=self.peer)
        self.lock: MaildropLock | None = None
        self.sent = 0
        self._login_deadline = asyncio.get_running_loop().time() + timeouts.login

    async def run(self) -> None:
        self.log.info("pop3.session.started")
        cut = False
        try:
            await self._loop()
        except _Closing:
            pass
        except WriteTimeout:
            self.log.info("pop3.session.write_timeout")
        except TlsFailed as exc:
            self.log.info("pop3.tls.failed", error=str(exc))
        except asyncio.CancelledError:
            cut = True  # shutdown: no UPDATE state, nothing is removed (RFC 1939 section 6)
            raise
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError) as exc:
            self.log.info("pop3.session.connection_error", error=repr(exc))
        except Exception:
            self.log.exception("pop3.session.failed")
        finally:
            if self.lock is not None:
                await self.lock.release()
            if cut:
                self.stream.abort()  # no TLS close handshake with a client that may not answer
            else:
                await self.stream.close()
            self.log.info("pop3.session.ended", account=self.session.authenticated_as, messages_sent=self.sent,
                          cut=cut)  # fmt: skip

    async def _loop(self) -> None:
        while True:
            while (event := self.session.next_event()) is not NEED_DATA:
                assert isinstance(event, Event)
                await self._write(await self._act(event))
                if isinstance(event, QuitReceived | SessionTerminated | ConnectionLost | UpdateRequested):
                    await self._write(self.session.data_to_send())
                    raise _Closing
            await self._write(self.session.data_to_send())
            if self.session.state is State.CLOSED:
                raise _Closing
            self.session.receive_data(await self._read())

    async def _read(self) -> bytes:
        if self.session.state is State.TRANSACTION:
            timeout = self.timeouts.idle
        else:
            # A client that trickles bytes never idles; the login deadline still ends it.
            left = self._login_deadline - asyncio.get_running_loop().time()
            timeout = max(0.0, min(self.timeouts.preauth, left))
        try:
            return await self.stream.read(timeout=timeout)
        except ReadTimeout:
            # RFC 1939 section 3: close without a reply and without entering UPDATE.
            self.log.info("pop3.session.timeout", state=self.session.state.name)
            raise _Closing from None

    async def _write(self, data: bytes) -> None:
        await self.stream.write(data, timeout=self.timeouts.write)

    # --- events ------------------------------------------------------------------------

    async def _act(self, event: Event) -> bytes:
        session = self.session
        match event:
            case PasswordReceived(username=username, password=password):
                outcome = await self.policy.authenticate(username, password, client_address=self.peer)
                return await self._finish_login(outcome, username)
            case AuthStarted() | AuthResponse():
                step = await self.sasl.step(event)
                if isinstance(step, Challenge):
                    return session.auth_challenge(step.data)
                return await self._finish_login(step, None)
            case StartTlsRequested():
                return await self._start_tls()
            case MessageRequested():
                return await self._send_message(event)
            case UpdateRequested():
                return await self._update(event)
            case ProtocolError(reply=reply, verb=verb):
                self.log.info("pop3.command.refused", verb=verb, reply=reply.text)
                return b""
            case SessionTerminated(reply=reply):
                self.log.info("pop3.session.terminated", reply=reply.text)
                return b""
            case ConnectionLost():
                self.log.info("pop3.session.peer_closed")
                return b""
            case _:
                return b""

    async def _finish_login(self, outcome: AuthOutcome, username: str | None) -> bytes:
        session = self.session
        if outcome.account is None:
            refused = refusal(outcome)
            self.log.info("pop3.login.failed", username=(username or "")[:100], problem=str(outcome.problem))
            return self._refuse(refused)
        account = outcome.account
        lock = await self.policy.lock(account, session_id=self.session_id)
        if isinstance(lock, Refusal):
            self.log.info("pop3.login.refused", account=account, result=lock.result)
            return self._refuse(lock)
        self.lock = lock  # from here on, the end of the session releases it
        maildrop = await self.policy.scan(account)
        if isinstance(maildrop, Refusal):
            self.lock = None
            await lock.release()
            return self._refuse(maildrop)
        self.log = self.log.bind(account=account)
        _metrics.LOGINS.labels("ok").inc()
        count, size = maildrop.stat()
        self.log.info("pop3.login.succeeded", messages=count, size=size)
        return session.login_succeeded(account, maildrop)

    def _refuse(self, refused: Refusal) -> bytes:
        _metrics.LOGINS.labels(refused.result).inc()
        return self.session.login_failed(refused.reply, counts=refused.counts)

    async def _send_message(self, event: MessageRequested) -> bytes:
        """RETR/TOP: +OK only once the blob is readable; after it, a failure can only cut the line."""
        try:
            stream = self.backends.blobs.open_stream(event.message.ref)
        except BlobError as exc:
            self.log.warning("pop3.message.unavailable", uid=event.message.uid, error=repr(exc))
            return self.session.message_failed()
        try:
            try:
                chunk = await anext(stream)
            except StopAsyncIteration:
                chunk = b""
            except BlobError as exc:
                self.log.warning("pop3.message.unavailable", uid=event.message.uid, error=repr(exc))
                return self.session.message_failed()
            await self._write(self.session.send_message())
            encoder = MessageEncoder(body_lines=event.lines)
            while True:
                out = encoder.feed(chunk)
                if out:
                    await self._write(out)
                    _metrics.BYTES_SENT.inc(len(out))
                if encoder.done:
                    break
                try:
                    chunk = await anext(stream)
                except StopAsyncIteration:
                    break
                except BlobError as exc:
                    # The +OK is out: the only honest thing left is to drop the connection.
                    self.log.warning("pop3.message.stream_failed", uid=event.message.uid, error=repr(exc))
                    self.stream.abort()
                    raise _Closing from None
            await self._write(encoder.finish())
        finally:
            await stream.aclose()  # type: ignore[attr-defined]
        command = "retr" if event.lines is None else "top"
        _metrics.MESSAGES_SENT.labels(command).inc()
        self.sent += 1
        return b""

    async def _update(self, event: UpdateRequested) -> bytes:
        account = self.session.authenticated_as
        assert account is not None
        removed = await self.policy.update(account, deleted=event.deleted, retrieved=event.retrieved)
        if removed is None:
            _metrics.UPDATES_FAILED.inc()
            return self.session.update_failed()
        _metrics.MESSAGES_DELETED.inc(removed)
        self.log.info("pop3.update.done", deleted=len(event.deleted), removed=removed)
        return self.session.update_done(len(event.deleted))

    async def _start_tls(self) -> bytes:
        context = self.listener.ssl_context
        if context is None:  # the core offers STLS only with tls_available
            return self.session.refuse_stls()
        # RFC 2595 section 4 / CVE-2011-0411: plaintext that followed the command
        # must never be read as if it came under TLS. The connection drops what it
        # received before the upgrade, the session what it had buffered.
        dropped = await self.stream.start_tls(
            context, reply=self.session.accept_stls(), handshake_timeout=self.timeouts.tls_handshake
        )
        dropped += self.session.start_tls()
        self.log.info("pop3.tls.started", plaintext_dropped=dropped)
        return b""


class Pop3Server(net.FrontEnd[SessionConfig]):
    """All listeners of one process, sharing the backends and the connection counter."""

    def __init__(
        self,
        listeners: list[Listener[SessionConfig]],
        *,
        host: str,
        backends: Backends,
        timeouts: Timeouts,
        max_connections_per_client: int,
    ) -> None:
        self.backends = backends
        self.timeouts = timeouts
        # On close, sessions waiting for their client are cut at once; those in the middle of
        # a command (sending a message, applying QUIT) get the grace. A cut session never
        # enters the UPDATE state, so it removes nothing; its client logs in again elsewhere.
        self._server = net.Server(
            listeners, hosts=host, front_end=self, max_connections_per_client=max_connections_per_client,
            tls_handshake_timeout=timeouts.tls_handshake, cut_idle_on_close=True,
        )  # fmt: skip

    def too_many_connections(self, listener: Listener[SessionConfig], peer: str) -> bytes:
        get_logger(peer=peer, listener=listener.name).info("pop3.session.too_many_connections")
        _metrics.REFUSED_CONNECTIONS.labels(listener.name).inc()
        return replies.temporary_failure("Too many connections from your address").to_bytes()

    async def serve(self, connection: net.Connection[SessionConfig]) -> None:
        name = connection.listener.name
        _metrics.SESSIONS.labels(name).inc()
        _metrics.OPEN_SESSIONS.labels(name).inc()
        try:
            await Connection(stream=connection, backends=self.backends, timeouts=self.timeouts).run()
        finally:
            _metrics.OPEN_SESSIONS.labels(name).dec()
