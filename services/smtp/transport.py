"""The SMTP/LMTP listeners: asyncio sockets around the sans-I/O session.

How this works
--------------
The sockets are `libs.net`'s: it listens, accepts, limits connections per
address, reads and writes with timeouts and does the TLS upgrade. This module
is the SMTP front end on top. Each accepted connection gets a `Session`
(services/smtp/protocol) and one loop: read what the client sent (with the
RFC 5321 section 4.5.3.2 timeouts), feed it to the session, act on the events
it returns (ask the policy, stream content into the blob store), write the
replies. A client with too many connections open at once gets 421 4.7.0.

Sender checks and rate limits (SPF, DKIM, Authentication-Results, messages
and connections per minute) live in `_mailauth.MailAuth`; the transport calls
it at three points: accepting a connection, MAIL FROM, and the start of the
message content.

STARTTLS (RFC 3207) upgrades the same connection (`Connection.start_tls`,
which drops the plaintext it had received after the command) and then tells
the session, which drops the plaintext it had buffered.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass

from libs import net
from libs.blobs import BlobStore
from libs.log import get_logger
from libs.net import Listener, ReadTimeout, TlsFailed, WriteTimeout
from services.smtp import _metrics
from services.smtp._auth import SaslExchange
from services.smtp._mailauth import CheckingSpool, MailAuth, too_many_connections_per_minute
from services.smtp._spf import SpfResult
from services.smtp._spool import Spool, received_protocol, trace_headers
from services.smtp._submit import outbound_message
from services.smtp.policy import BusPolicy, DeliveryOutcome, storage_unavailable
from services.smtp.protocol import (
    NEED_DATA,
    Address,
    AuthResponse,
    AuthStarted,
    ConnectionLost,
    DataStarted,
    Event,
    GreetingNeeded,
    HeloReceived,
    MailFromReceived,
    MessageAborted,
    MessageComplete,
    MessageDataChunk,
    QuitReceived,
    RecipientReceived,
    Reply,
    ResetReceived,
    Session,
    SessionConfig,
    SessionTerminated,
    StartTlsRequested,
    State,
)

_DATA_STATES = (State.RECEIVING_DATA, State.RECEIVING_CHUNK)


@dataclass(frozen=True)
class Timeouts:
    command: float = 300.0
    data_block: float = 180.0
    data_end: float = 600.0
    write: float = 60.0
    tls_handshake: float = 60.0


class _Closing(Exception):
    """The connection is over; close the socket."""


class Connection:
    """One client: the session, its transaction and the socket (a `libs.net.Connection`)."""

    def __init__(
        self,
        *,
        stream: net.Connection[SessionConfig],
        policy: BusPolicy,
        blobs: BlobStore,
        timeouts: Timeouts,
        mailauth: MailAuth | None = None,
    ) -> None:
        self.stream = stream
        self.listener = stream.listener
        self.mailauth = mailauth
        self.policy = policy
        self.blobs = blobs
        self.timeouts = timeouts
        self.peer = stream.peer
        self.session_id = stream.session_id
        self.session = Session(self.listener.config)
        self.log = stream.log
        self.sasl = SaslExchange(policy, client_address=self.peer)
        self.messages = 0
        self._reverse_path: Address | None = None
        self._declared_size: int | None = None
        self._accounts: dict[Address, tuple[str, ...]] = {}
        self._remote: dict[Address, tuple[str, ...]] = {}
        self._spool: Spool | CheckingSpool | None = None
        self._spf: SpfResult | None = None

    async def run(self) -> None:
        self.log.info("smtp.session.started")
        try:
            await self._loop()
        except _Closing:
            pass
        except WriteTimeout:
            self.log.info("smtp.session.write_timeout")
        except TlsFailed as exc:
            self.log.info("smtp.tls.failed", error=str(exc))
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError) as exc:
            self.log.info("smtp.session.connection_error", error=repr(exc))
        except Exception:
            self.log.exception("smtp.session.failed")
        finally:
            await self._discard_message()
            await self.stream.close()
            self.log.info("smtp.session.ended", messages=self.messages)

    async def _loop(self) -> None:
        while True:
            while (event := self.session.next_event()) is not NEED_DATA:
                await self._write(await self._act(event))
                if isinstance(event, QuitReceived | SessionTerminated | ConnectionLost):
                    await self._write(self.session.data_to_send())
                    raise _Closing
            await self._write(self.session.data_to_send())
            if self.session.state is State.CLOSED:
                raise _Closing
            self.session.receive_data(await self._read())

    async def _read(self) -> bytes:
        timeout = self.timeouts.data_block if self.session.state in _DATA_STATES else self.timeouts.command
        try:
            return await self.stream.read(timeout=timeout)
        except ReadTimeout:
            self.log.info("smtp.session.timeout", state=self.session.state.name)
            reply = Reply(421, "4.4.2", f"{self.listener.config.hostname} Timeout, closing connection")
            await self._write(reply.to_bytes())
            raise _Closing from None

    async def _write(self, data: bytes) -> None:
        await self.stream.write(data, timeout=self.timeouts.write)

    # --- events ------------------------------------------------------------------------

    async def _act(self, event: Event) -> bytes:
        session = self.session
        match event:
            case GreetingNeeded() | HeloReceived():
                return session.accept()
            case MailFromReceived(reverse_path=reverse_path, params=params):
                await self._discard_message()
                refusal = await self._check_sender(reverse_path)
                if refusal is not None:
                    return refusal
                self._reverse_path = reverse_path
                self._declared_size = params.size
                self._accounts, self._remote = {}, {}
                return session.accept()
            case RecipientReceived(address=address, params=_):
                return await self._recipient(address)
            case DataStarted():
                self._start_message()
                return b""
            case MessageDataChunk(data=data):
                if self._spool is not None:
                    await self._spool.add(data)
                return b""
            case MessageAborted(reply=reply):
                self.log.info("smtp.message.aborted", code=reply.code)
                await self._discard_message()
                return b""
            case MessageComplete():
                return await self._complete(event)
            case ResetReceived():
                await self._discard_message()
                self._accounts, self._remote = {}, {}
                return b""
            case StartTlsRequested():
                return await self._start_tls()
            case AuthStarted() | AuthResponse():
                return await self.sasl.step(session, event)
            case ConnectionLost():
                self.log.info("smtp.session.peer_closed")
                return b""
            case _:
                return b""

    async def _check_sender(self, reverse_path: Address | None) -> bytes | None:
        """Rate limits and SPF (`MailAuth`); the refusal's bytes, or None to go on."""
        self._spf = None
        if self.mailauth is None:
            return None
        verdict = await self.mailauth.check_mail_from(
            listener=self.listener.name, peer=self.peer, helo=self.session.helo_name,
            reverse_path=reverse_path, account=self.session.authenticated_as,
        )  # fmt: skip
        self._spf = verdict.spf
        if verdict.spf is not None:
            self.log.info("smtp.spf.checked", result=verdict.spf.result, identity=verdict.spf.identity)
        if verdict.reply is None:
            return None
        self.log.info("smtp.mail.rejected", code=verdict.reply.code, reason=verdict.reply.text)
        return self.session.reply(verdict.reply)

    async def _recipient(self, address: Address) -> bytes:
        verdict = await self.policy.check_recipient(
            address, authenticated=self.session.authenticated_as is not None, size=self._declared_size
        )
        _metrics.RECIPIENTS.labels(self.listener.name, str(verdict.reply.code if verdict.reply else 250)).inc()
        if verdict.reply is not None:
            self.log.info("smtp.rcpt.rejected", rcpt=address.text, code=verdict.reply.code)
            return self.session.reply(verdict.reply)
        self._accounts[address] = verdict.accounts
        if verdict.remote:
            self._remote[address] = verdict.remote
        self.log.info("smtp.rcpt.accepted", rcpt=address.text)
        return self.session.accept()

    def _start_message(self) -> None:
        recipients = list(self._accounts)
        config = self.listener.config
        head = trace_headers(
            reverse_path=self._reverse_path,
            helo=self.session.helo_name,
            peer=self.peer,
            hostname=config.hostname,
            protocol=received_protocol(
                lmtp=config.lmtp, tls=self.session.tls_active, authenticated=self.session.authenticated_as is not None
            ),
            session_id=self.session_id,
            recipient=recipients[0].text if len(recipients) == 1 else None,
        )
        if self.mailauth is None:
            self._spool = Spool(self.blobs, head)
        else:
            self._spool = self.mailauth.spool(
                self.blobs, head, listener=self.listener.name,
                authenticated=self.session.authenticated_as is not None, spf=self._spf,
            )  # fmt: skip

    async def _discard_message(self) -> None:
        spool, self._spool = self._spool, None
        if spool is not None:
            await spool.abort()

    async def _complete(self, event: MessageComplete) -> bytes:
        spool, self._spool = self._spool, None
        message_id = f"{self.session_id}.{self.messages + 1}"
        lmtp = self.listener.config.lmtp
        recipients = [self._accounts.get(r.address, ()) for r in event.envelope.recipients]
        outcome = DeliveryOutcome(unavailable=True)
        queue_failure: Reply | None = storage_unavailable()
        ref = None
        try:
            if spool is None:
                raise RuntimeError("message content was never started")
            ref = await spool.finish(self.timeouts.data_end)
            accounts = list(dict.fromkeys(a for group in recipients for a in group))
            outcome = (
                await asyncio.wait_for(self.policy.deliver(ref.digest, accounts), self.timeouts.data_end)
                if accounts
                else DeliveryOutcome()
            )
            # SMTP has one reply: when a local copy failed, the client sends the whole
            # message again, so queueing the remote copies now would only duplicate them.
            if lmtp or all(outcome.reply_for(group, message_id).is_positive for group in recipients):
                queue_failure = await self._queue_remote(event, message_id, ref.digest, ref.size)
        except Exception as exc:
            self.log.warning("smtp.message.store_failed", error=repr(exc))
        answers = [
            _first_failure(outcome.reply_for(group, message_id), queue_failure if r.address in self._remote else None)
            for group, r in zip(recipients, event.envelope.recipients, strict=True)
        ]
        submitter = self.session.authenticated_as
        if ref is not None and submitter is not None and _one_reply(answers).is_positive:
            await self.policy.save_sent(account=submitter, digest=ref.digest)
        for answer in answers if lmtp else [_one_reply(answers)]:
            _metrics.MESSAGES.labels(self.listener.name, str(answer.code)).inc()
        self.messages += 1
        self.log.info("smtp.message.completed", size=event.size, message_id=message_id,
                      codes=[a.code for a in answers])  # fmt: skip
        if lmtp:
            return self.session.reply_each(answers)
        return self.session.reply(_one_reply(answers))

    async def _queue_remote(self, event: MessageComplete, message_id: str, digest: str, size: int) -> Reply | None:
        """Queue the remote recipients (if any): None once JetStream acknowledged them."""
        message = outbound_message(
            message_id=message_id, digest=digest, size=size, envelope=event.envelope, remote=self._remote,
            account=self.session.authenticated_as,
        )  # fmt: skip
        if message is None:
            return None
        return await asyncio.wait_for(self.policy.queue_remote(message), self.timeouts.data_end)

    async def _start_tls(self) -> bytes:
        context = self.listener.ssl_context
        if context is None:  # the core offers STARTTLS only with tls_available
            return self.session.reply(Reply(454, "4.7.0", "TLS not available"))
        # RFC 3207 section 4.2 / CVE-2011-0411: plaintext that followed the command
        # must never be read as if it came under TLS. The connection drops what it
        # received before the upgrade, the session what it had buffered.
        dropped = await self.stream.start_tls(
            context, reply=self.session.accept(), handshake_timeout=self.timeouts.tls_handshake
        )
        dropped += self.session.start_tls()
        self.log.info("smtp.tls.started", plaintext_dropped=dropped)
        return b""


def _first_failure(local: Reply, remote: Reply | None) -> Reply:
    """One recipient's answer: its local copies stored and its remote copies queued."""
    return remote if remote is not None and local.is_positive else local


def _one_reply(answers: list[Reply]) -> Reply:
    """SMTP has one reply after DATA: 250 only when every recipient's message was stored.

    Otherwise the client keeps the message and retries (RFC 5321 section 6.1:
    a duplicate is better than a loss), so the first failure answers for all.
    """
    failures = [a for a in answers if not a.is_positive]
    if not answers:
        return storage_unavailable()
    if not failures:
        return answers[0]
    return next((f for f in failures if f.code == 452), failures[0])


class SmtpServer(net.FrontEnd[SessionConfig]):
    """All listeners of one process, sharing the policy, blob store and connection counter."""

    def __init__(
        self,
        listeners: list[Listener[SessionConfig]],
        *,
        host: str,
        policy: BusPolicy,
        blobs: BlobStore,
        timeouts: Timeouts,
        max_connections_per_client: int,
        mailauth: MailAuth | None = None,
    ) -> None:
        self.policy = policy
        self.blobs = blobs
        self.timeouts = timeouts
        self.mailauth = mailauth
        # Sessions waiting for their client are not cut at once on close: each
        # gets the same grace as a busy one to end its conversation.
        self._server = net.Server(
            listeners, hosts=host, front_end=self, max_connections_per_client=max_connections_per_client,
            tls_handshake_timeout=timeouts.tls_handshake, cut_idle_on_close=False,
        )  # fmt: skip

    def check_connection(self, listener: Listener[SessionConfig], peer: str) -> bytes | None:
        if self.mailauth is None or self.mailauth.allow_connection(listener.name, peer):
            return None
        get_logger(peer=peer, listener=listener.name).info("smtp.session.connection_rate_exceeded")
        _metrics.REFUSED_CONNECTIONS.labels(listener.name).inc()
        return too_many_connections_per_minute().to_bytes()

    def too_many_connections(self, listener: Listener[SessionConfig], peer: str) -> bytes:
        get_logger(peer=peer, listener=listener.name).info("smtp.session.too_many_connections")
        _metrics.REFUSED_CONNECTIONS.labels(listener.name).inc()
        return Reply(421, "4.7.0", "Too many connections from your address").to_bytes()

    async def serve(self, connection: net.Connection[SessionConfig]) -> None:
        name = connection.listener.name
        _metrics.SESSIONS.labels(name).inc()
        _metrics.OPEN_SESSIONS.labels(name).inc()
        try:
            await Connection(stream=connection, policy=self.policy, blobs=self.blobs, timeouts=self.timeouts,
                             mailauth=self.mailauth).run()  # fmt: skip
        finally:
            _metrics.OPEN_SESSIONS.labels(name).dec()
