"""The sans-I/O SMTP/LMTP server session: bytes in, events and reply bytes out.

How this works
--------------
The transport owns the socket and drives the session like h11's connection::

    session.receive_data(chunk)            # b"" when the peer closed
    while (event := session.next_event()) is not NEED_DATA:
        ...                                # answer questions, stream content
    writer.write(session.data_to_send())

``next_event()`` reads as far as the buffered bytes allow and returns one
event at a time. Events that need a decision (``Question``: greeting, HELO,
MAIL, RCPT, end of message, STARTTLS, AUTH steps) stop the reading until the
caller answers with ``accept()``, ``reply()``, ``reply_each()`` (LMTP) or the
``auth_*`` methods; everything the core can answer alone (syntax errors, RSET,
NOOP, 354, BDAT chunk receipts ...) is queued without asking. All replies go
through one output buffer, so pipelined commands (RFC 2920) are answered in
order, and bytes after a DATA, BDAT, STARTTLS or AUTH line are never read as
commands before that command is settled.

Which command may come when is the table in ``states``; what each command
checks is in ``commands``; how DATA content is framed is in ``data``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from . import replies
from .auth import CANCEL, decode_response
from .capabilities import ehlo_keywords
from .commands import HANDLERS, BdatChunk, Context
from .config import SessionConfig
from .data import DotReader
from .errors import LocalProtocolError, RemoteProtocolError
from .events import (
    NEED_DATA,
    AuthCancelled,
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
    NeedData,
    ProtocolError,
    Question,
    QuitReceived,
    Recipient,
    RecipientReceived,
    ResetReceived,
    SessionTerminated,
    StartTlsRequested,
)
from .limits import BareNewlinePolicy
from .lines import LineProblem, LineReader
from .parser import Command, Verb, parse_command
from .replies import Reply
from .states import State, transition
from .transaction import ChunkInProgress, Transaction


@dataclass
class _Pending:
    question: Question
    #: The state a positive answer leads to.
    success: State
    delivered: bool = False


class Session:
    def __init__(self, config: SessionConfig) -> None:
        self.config = config
        self._state = State.AWAITING_GREETING
        self._buffer = bytearray()
        self._outgoing = bytearray()
        self._events: deque[Event] = deque()
        self._pending: _Pending | None = None
        self._lines = LineReader()
        self._dot: DotReader | None = None
        self._chunk: ChunkInProgress | None = None
        self._transaction: Transaction | None = None
        self._helo_name: str | None = None
        self._tls_active = config.tls_active
        self._authenticated_as: str | None = None
        self._auth_mechanism = ""
        self._errors = 0
        self._eof = False

    # --- what the caller may look at ---------------------------------------------------

    @property
    def state(self) -> State:
        return self._state

    @property
    def tls_active(self) -> bool:
        return self._tls_active

    @property
    def helo_name(self) -> str | None:
        return self._helo_name

    @property
    def authenticated_as(self) -> str | None:
        return self._authenticated_as

    @property
    def error_count(self) -> int:
        return self._errors

    @property
    def buffered_bytes(self) -> int:
        """Octets received but not yet consumed (bounded by the line limits plus one read)."""
        return len(self._buffer)

    # --- bytes in, events out, bytes out -------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Buffer bytes from the peer; ``b""`` means the peer closed its side."""
        if self._eof:
            raise LocalProtocolError("receive_data() after the end of the stream")
        if not data:
            self._eof = True
        elif self._state is not State.CLOSED:
            self._buffer += data

    def next_event(self) -> Event | NeedData:
        if self._pending is not None and self._pending.delivered:
            raise LocalProtocolError(f"answer {type(self._pending.question).__name__} first")
        while not self._events and self._step():
            pass
        if not self._events:
            return NEED_DATA
        event = self._events.popleft()
        if self._pending is not None and event is self._pending.question:
            self._pending.delivered = True
        return event

    def data_to_send(self) -> bytes:
        """Everything queued for the peer so far, in order; the buffer is emptied."""
        out = bytes(self._outgoing)
        self._outgoing.clear()
        return out

    # --- answering questions -----------------------------------------------------------

    def accept(self) -> bytes:
        """Answer the pending question with its standard positive reply."""
        question = self._delivered().question
        if isinstance(question, AuthStarted | AuthResponse):
            raise LocalProtocolError("answer AUTH with auth_challenge(), auth_succeeded() or auth_failed()")
        return self.reply(self._positive_reply(question))

    def reply(self, reply: Reply) -> bytes:
        """Answer the pending question with ``reply``; 2yz means yes. Returns the bytes to send."""
        pending = self._delivered()
        question = pending.question
        if 300 <= reply.code < 400:
            raise LocalProtocolError("3yz replies (354, 334) are sent by the session itself")
        if isinstance(question, AuthStarted | AuthResponse):
            if reply.code < 400:
                raise LocalProtocolError("use auth_challenge() or auth_succeeded() for AUTH")
            return self.auth_failed(reply)
        if isinstance(question, MessageComplete) and self.config.lmtp:
            return self.reply_each([reply] * len(question.envelope.recipients))
        self._pending = None
        self._queue(reply)
        self._settle(question, reply, pending.success)
        return self.data_to_send()

    def reply_each(self, per_recipient: Sequence[Reply]) -> bytes:
        """LMTP: one reply per accepted recipient, in RCPT order (RFC 2033 section 4.2)."""
        question = self._delivered().question
        if not (self.config.lmtp and isinstance(question, MessageComplete)):
            raise LocalProtocolError("reply_each() answers MessageComplete in LMTP mode only")
        if len(per_recipient) != len(question.envelope.recipients):
            raise LocalProtocolError("reply_each() needs exactly one reply per accepted recipient")
        self._pending = None
        for reply in per_recipient:
            self._queue(reply)
        closing = [reply for reply in per_recipient if reply.code == 421]
        if closing:
            self._close(closing[0])
        else:
            self._enter(State.READY)
        return self.data_to_send()

    def auth_challenge(self, challenge: bytes) -> bytes:
        """Send ``334 <base64>`` and wait for the client's next SASL line (RFC 4954 section 4)."""
        question = self._delivered_auth()
        self._pending = None
        self._auth_mechanism = question.mechanism
        self._queue(replies.auth_challenge(challenge))
        self._state = State.AUTHENTICATING
        return self.data_to_send()

    def auth_succeeded(self, identity: str) -> bytes:
        """Send 235 2.7.0; ``identity`` is who the client now is."""
        self._delivered_auth()
        self._pending = None
        self._authenticated_as = identity
        self._queue(replies.auth_succeeded())
        self._state = State.READY
        return self.data_to_send()

    def auth_failed(self, reply: Reply | None = None) -> bytes:
        """End the exchange with a 4yz/5yz reply, 535 5.7.8 by default."""
        reply = reply or replies.auth_invalid_credentials()
        if reply.code < 400:
            raise LocalProtocolError("auth_failed() needs a 4yz or 5yz reply")
        self._delivered_auth()
        self._pending = None
        self._queue(reply)
        self._state = State.READY
        if reply.code == 421:
            self._close(reply)
        return self.data_to_send()

    def start_tls(self) -> int:
        """Call after the TLS handshake. Returns how many plaintext octets were dropped.

        RFC 3207 section 4.2: the session goes back to just after the greeting and
        forgets everything the client said before (EHLO name, AUTH). Bytes that
        arrived after the STARTTLS line were sent in plaintext and may have been
        injected (CVE-2011-0411): they are discarded, never read as commands.
        """
        if self._state is not State.AWAITING_TLS:
            raise LocalProtocolError("start_tls() is only valid once StartTlsRequested was accepted")
        discarded = len(self._buffer)
        self._buffer.clear()
        self._lines = LineReader()
        self._tls_active = True
        self._helo_name = None
        self._authenticated_as = None
        self._enter(State.AWAITING_HELO)
        return discarded

    # --- reading -----------------------------------------------------------------------

    def _step(self) -> bool:
        """Make one unit of progress; ``False`` when blocked on the caller or on more bytes."""
        if self._pending is not None:
            return False
        state = self._state
        if state is State.AWAITING_GREETING:
            self._ask(GreetingNeeded(), success=State.AWAITING_HELO)
            return True
        if state is State.CLOSED:
            return False
        if state is State.AWAITING_TLS:
            progressed = False
        elif state is State.RECEIVING_DATA:
            progressed = self._step_data()
        elif state is State.RECEIVING_CHUNK:
            progressed = self._step_chunk()
        elif state is State.AUTHENTICATING:
            progressed = self._step_sasl()
        else:
            progressed = self._step_command()
        if not progressed and self._eof and self._pending is None and self._state is not State.CLOSED:
            self._events.append(ConnectionLost())
            self._enter(State.CLOSED)
            return True
        return progressed

    def _step_command(self) -> bool:
        line = self._lines.next_line(self._buffer, limit=self.config.limits.max_command_line)
        if line is None:
            return False
        if line is LineProblem.BARE_NEWLINE:
            self._terminate(replies.bare_newline())
        elif line is LineProblem.TOO_LONG:
            self._protocol_error(replies.line_too_long())
        else:
            verb: Verb | None = None
            try:
                command = parse_command(line, lmtp=self.config.lmtp)
                verb = command.verb
                self._dispatch(command)
            except RemoteProtocolError as error:
                self._protocol_error(error.reply, verb)
        return True

    def _dispatch(self, command: Command) -> None:
        if command.verb is Verb.BDAT:
            self._start_chunk(command)
            return
        target = transition(self._state, command.verb)
        outcome = HANDLERS[command.verb](command, self._context())
        if isinstance(outcome, Question):
            self._ask(outcome, success=target)
            return
        assert isinstance(outcome, Reply), "only BDAT yields a chunk"
        self._queue(outcome)
        if outcome.code >= 400:
            return
        self._enter(target)
        if command.verb is Verb.RSET:
            self._events.append(ResetReceived())
        elif command.verb is Verb.QUIT:
            self._events.append(QuitReceived())
        elif command.verb is Verb.DATA:
            self._begin_content("DATA")
            normalize = self.config.bare_newline is BareNewlinePolicy.NORMALIZE
            self._dot = DotReader(normalize_bare_newlines=normalize, max_line_length=self.config.limits.max_text_line)

    def _start_chunk(self, command: Command) -> None:
        try:
            outcome = HANDLERS[Verb.BDAT](command, self._context())
        except RemoteProtocolError as error:
            # Without a size there is no telling where the chunk ends: the rest of
            # the stream cannot be read safely.
            self._terminate(error.reply)
            return
        assert isinstance(outcome, BdatChunk)
        refusal: Reply | None = None
        try:
            transition(self._state, Verb.BDAT)
        except RemoteProtocolError as error:
            refusal = error.reply
        self._chunk = ChunkInProgress(outcome.size, outcome.size, outcome.last, refusal, resume=self._state)
        if refusal is None:
            self._begin_content("BDAT")
        self._state = State.RECEIVING_CHUNK

    def _step_chunk(self) -> bool:
        chunk = self._chunk
        assert chunk is not None
        take = min(chunk.remaining, len(self._buffer))
        if take == 0 and chunk.remaining:
            return False
        if take:
            data = bytes(self._buffer[:take])
            del self._buffer[:take]
            chunk.remaining -= take
            if chunk.refusal is None:
                self._take_content(data)
        if chunk.remaining == 0:
            self._chunk = None
            self._finish_chunk(chunk)
        return True

    def _finish_chunk(self, chunk: ChunkInProgress) -> None:
        if chunk.refusal is not None:
            self._state = chunk.resume
            self._protocol_error(chunk.refusal, Verb.BDAT)
            return
        transaction = self._current_transaction()
        if transaction.failure is not None:
            # RFC 3030 section 2: the transaction has failed; chunks still in the
            # pipeline meet 503 and are discarded.
            self._fail_message(transaction.failure, per_recipient=chunk.last)
        elif chunk.last:
            self._ask(MessageComplete(transaction.size, transaction.envelope(), "BDAT"), success=State.READY)
        else:
            self._queue(replies.chunk_received(chunk.size))
            self._state = State.BETWEEN_CHUNKS

    def _step_data(self) -> bool:
        reader = self._dot
        assert reader is not None
        progress = reader.feed(self._buffer)
        del self._buffer[: progress.consumed]
        transaction = self._current_transaction()
        if progress.content:
            self._take_content(progress.content)
        aborted_now = reader.line_too_long and transaction.failure is None
        if aborted_now:
            self._abort_message(replies.line_too_long())  # RFC 5321 section 4.5.3.1.6
        if progress.bare_newline:
            reply = replies.bare_newline()
            if transaction.failure is None:
                self._events.append(MessageAborted(reply))
            self._terminate(reply, copies=self._reply_count(per_recipient=True))
            return True
        if not progress.finished:
            return progress.consumed > 0 or aborted_now
        self._dot = None
        if transaction.failure is not None:
            self._fail_message(transaction.failure, per_recipient=True)
        else:
            self._ask(MessageComplete(transaction.size, transaction.envelope(), "DATA"), success=State.READY)
        return True

    def _step_sasl(self) -> bool:
        line = self._lines.next_line(self._buffer, limit=self.config.limits.max_auth_line)
        if line is None:
            return False
        if line is LineProblem.BARE_NEWLINE:
            self._terminate(replies.bare_newline())
            return True
        self._state = State.READY
        if line is LineProblem.TOO_LONG:
            self._protocol_error(replies.auth_line_too_long(), Verb.AUTH)  # RFC 4954 section 4
            return True
        text = line.decode("latin-1")
        if text == CANCEL:
            self._queue(replies.auth_cancelled())
            self._events.append(AuthCancelled(self._auth_mechanism))
            return True
        try:
            data = decode_response(text)
        except RemoteProtocolError as error:
            self._protocol_error(error.reply, Verb.AUTH)
            return True
        self._ask(AuthResponse(self._auth_mechanism, data), success=State.READY)
        return True

    # --- message content ---------------------------------------------------------------

    def _begin_content(self, via: Literal["DATA", "BDAT"]) -> None:
        transaction = self._current_transaction()
        if transaction.via is None:
            transaction.via = via
            self._events.append(DataStarted(via))

    def _take_content(self, data: bytes) -> None:
        admitted, too_big = self._current_transaction().admit(data, max_size=self.config.limits.max_message_size)
        if admitted:
            self._events.append(MessageDataChunk(admitted))
        if too_big:
            self._abort_message(replies.message_too_big())  # RFC 1870 section 6.3

    def _abort_message(self, reply: Reply) -> None:
        self._current_transaction().failure = reply
        self._events.append(MessageAborted(reply))

    def _fail_message(self, reply: Reply, *, per_recipient: bool) -> None:
        for _ in range(self._reply_count(per_recipient=per_recipient)):
            self._queue(reply)
        self._enter(State.READY)

    def _reply_count(self, *, per_recipient: bool) -> int:
        """LMTP answers the end of a message once per accepted recipient (RFC 2033 section 4.2)."""
        if per_recipient and self.config.lmtp and self._transaction is not None:
            return len(self._transaction.recipients)
        return 1

    # --- state bookkeeping -------------------------------------------------------------

    def _settle(self, question: Question, reply: Reply, success: State) -> None:
        """Move on after the caller's ``reply`` to ``question``."""
        if reply.code == 421:  # RFC 5321 section 3.8: the server is closing the channel
            self._close(reply)
        elif isinstance(question, GreetingNeeded):
            if reply.is_positive:
                self._enter(State.AWAITING_HELO)
            elif reply.code == 554:
                self._enter(State.REFUSED)
            else:
                self._close(reply)
        elif isinstance(question, MessageComplete):
            self._enter(State.READY)
        elif reply.is_positive:
            if isinstance(question, HeloReceived):
                self._helo_name = question.name
            elif isinstance(question, MailFromReceived):
                self._transaction = Transaction(question.reverse_path, question.params)
            elif isinstance(question, RecipientReceived):
                self._current_transaction().recipients.append(Recipient(question.address, question.params))
            self._enter(success)

    def _positive_reply(self, question: Question) -> Reply:
        hostname = self.config.hostname
        if isinstance(question, GreetingNeeded):
            return replies.greeting(hostname, lmtp=self.config.lmtp)
        if isinstance(question, HeloReceived):
            if question.extended:
                return replies.ehlo(hostname, ehlo_keywords(self.config, tls_active=self._tls_active))
            return replies.helo(hostname)
        if isinstance(question, MailFromReceived):
            return replies.sender_ok()
        if isinstance(question, RecipientReceived):
            return replies.recipient_ok()
        if isinstance(question, StartTlsRequested):
            return replies.tls_ready()
        if isinstance(question, MessageComplete):
            return replies.message_accepted()
        raise LocalProtocolError(f"no standard reply for {type(question).__name__}")

    def _enter(self, state: State) -> None:
        self._state = state
        if state in (State.READY, State.AWAITING_HELO, State.CLOSED):
            self._transaction = None
            self._dot = None
            self._chunk = None
        if state is State.CLOSED:
            self._buffer.clear()

    def _ask(self, question: Question, *, success: State) -> None:
        self._pending = _Pending(question, success)
        self._events.append(question)

    def _queue(self, reply: Reply) -> None:
        self._outgoing += reply.to_bytes()

    def _protocol_error(self, reply: Reply, verb: str | None = None) -> None:
        self._queue(reply)
        self._events.append(ProtocolError(reply, None if verb is None else str(verb)))
        self._errors += 1
        if self._errors >= self.config.limits.max_errors:
            self._terminate(replies.too_many_errors(self.config.hostname))

    def _terminate(self, reply: Reply, *, copies: int = 1) -> None:
        for _ in range(copies):
            self._queue(reply)
        self._close(reply)

    def _close(self, reply: Reply) -> None:
        self._events.append(SessionTerminated(reply))
        self._enter(State.CLOSED)

    def _delivered(self) -> _Pending:
        if self._pending is None or not self._pending.delivered:
            raise LocalProtocolError("there is no question to answer")
        return self._pending

    def _delivered_auth(self) -> AuthStarted | AuthResponse:
        question = self._delivered().question
        if not isinstance(question, AuthStarted | AuthResponse):
            raise LocalProtocolError(f"{type(question).__name__} is not an AUTH step")
        return question

    def _current_transaction(self) -> Transaction:
        if self._transaction is None:
            raise LocalProtocolError("no mail transaction")  # unreachable through the state table
        return self._transaction

    def _context(self) -> Context:
        transaction = self._transaction
        return Context(
            config=self.config,
            tls_active=self._tls_active,
            authenticated=self._authenticated_as is not None,
            smtputf8=transaction is not None and transaction.params.smtputf8,
            recipient_count=len(transaction.recipients) if transaction else 0,
        )
