"""One POP3 server session (RFC 1939, RFC 2449, RFC 2595, RFC 5034), without I/O.

How this works
--------------
The transport calls `receive_data(bytes)` with what the client sent (b""
at EOF) and then `next_event()` until it returns `NEED_DATA`. Commands the
session can answer from its own state (CAPA, STAT, LIST, UIDL, DELE, RSET,
NOOP, USER, errors) are answered at once and their replies queued; commands
that need the outside world come out as questions (events.py), and the
session parses nothing further until the caller answers one with the
method named in events.py. Every answer returns all bytes queued so far, so
writing what it returns keeps pipelined replies in order; after NEED_DATA,
write `data_to_send()`.

The maildrop (its scan listing) is given to `login_succeeded`; message
numbers, sizes and unique ids then come from it for the whole session.
States and which commands each allows are in states.py.
"""

from __future__ import annotations

import binascii
from collections import deque

from . import replies
from .capabilities import capabilities, plaintext_allowed, usable_mechanisms
from .commands import Command, decode_line, parse_command
from .config import PLAINTEXT_MECHANISMS, SessionConfig
from .errors import LocalProtocolError, RemoteProtocolError
from .events import (
    NEED_DATA,
    AuthResponse,
    AuthStarted,
    ConnectionLost,
    Event,
    MessageRequested,
    PasswordReceived,
    ProtocolError,
    Question,
    QuitReceived,
    SessionTerminated,
    StartTlsRequested,
    UpdateRequested,
    _NeedData,
)
from .lines import TOO_LONG, LineReader
from .maildrop import Maildrop, MaildropMessage
from .replies import Reply
from .states import ALLOWED, State, next_state

#: The client's line that abandons a SASL exchange (RFC 5034 section 4).
CANCEL = b"*"


class Session:
    def __init__(self, config: SessionConfig) -> None:
        self.config = config
        self._state = State.AUTHORIZATION
        self._tls = config.tls_active
        self._reader = LineReader()
        self._out = bytearray(replies.greeting(config.hostname).to_bytes())
        self._events: deque[Event] = deque()
        self._pending: Question | None = None
        self._eof = False
        self._errors = 0
        self._auth_failures = 0
        self._username: str | None = None
        self._sasl_mechanism: str | None = None
        self._maildrop: Maildrop | None = None
        self._account: str | None = None
        self._awaiting_tls = False  # STLS accepted: read nothing until the handshake is done

    # --- properties -------------------------------------------------------------------

    @property
    def state(self) -> State:
        return self._state

    @property
    def tls_active(self) -> bool:
        return self._tls

    @property
    def authenticated_as(self) -> str | None:
        return self._account

    @property
    def maildrop(self) -> Maildrop | None:
        return self._maildrop

    @property
    def error_count(self) -> int:
        return self._errors

    @property
    def buffered_bytes(self) -> int:
        return self._reader.buffered_bytes

    @property
    def in_sasl_exchange(self) -> bool:
        return self._sasl_mechanism is not None

    # --- input and output ---------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        if not data:
            self._eof = True
        elif self._state is not State.CLOSED:
            self._reader.feed(data)

    def data_to_send(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out

    def next_event(self) -> Event | _NeedData:
        if self._pending is not None:
            raise LocalProtocolError(f"answer {type(self._pending).__name__} before asking for the next event")
        if self._events:
            return self._events.popleft()
        if self._awaiting_tls:
            return NEED_DATA
        while self._state in (State.AUTHORIZATION, State.TRANSACTION):
            limits = self.config.limits
            line = self._reader.next_line(limits.max_auth_line if self._sasl_mechanism else limits.max_command_line)
            if line is None:
                break
            event = self._handle_line(line)
            if event is not None:
                return event
        if self._eof and self._state in (State.AUTHORIZATION, State.TRANSACTION):
            # RFC 1939 section 6: without QUIT there is no UPDATE; nothing is removed.
            self._state = next_state(self._state, "connection_lost")
            return ConnectionLost()
        return NEED_DATA

    # --- answers to questions -------------------------------------------------------------

    def login_succeeded(self, account: str, maildrop: Maildrop) -> bytes:
        self._answer(PasswordReceived, AuthStarted, AuthResponse)
        self._sasl_mechanism = None
        self._account = account
        self._maildrop = maildrop
        self._state = next_state(self._state, "login_succeeded")
        count, size = maildrop.stat()
        return self._reply(replies.ok(f"Logged in, maildrop has {count} messages ({size} octets)"))

    def login_failed(self, reply: Reply | None = None, *, counts: bool = True) -> bytes:
        """Refuse the login: `reply` (default "-ERR [AUTH] Authentication failed").

        Failures that `count` (wrong credentials) close the session at
        `max_auth_failures`; a locked maildrop or a directory outage does not count.
        """
        self._answer(PasswordReceived, AuthStarted, AuthResponse)
        self._sasl_mechanism = None
        reply = reply or replies.auth_failed()
        if counts:
            self._auth_failures += 1
            if self._auth_failures >= self.config.limits.max_auth_failures:
                self._terminate(replies.too_many_auth_failures())
                return self.data_to_send()
        return self._reply(reply)

    def auth_challenge(self, data: bytes) -> bytes:
        """A SASL challenge ("+ base64", RFC 5034 section 4); the client's next line answers it."""
        self._answer(AuthStarted, AuthResponse)
        self._out += b"+ " + binascii.b2a_base64(data, newline=False) + b"\r\n"
        return self.data_to_send()

    def accept_stls(self) -> bytes:
        """Queue "+OK Begin TLS negotiation"; write it, do the handshake, then call `start_tls`."""
        self._answer(StartTlsRequested)
        self._awaiting_tls = True
        return self._reply(replies.ok("Begin TLS negotiation"))

    def refuse_stls(self, reply: Reply | None = None) -> bytes:
        self._answer(StartTlsRequested)
        return self._reply(reply or replies.stls_not_available())

    def start_tls(self) -> int:
        """TLS is up. Anything the client sent after STLS in plaintext is dropped (RFC 2595
        section 4, CVE-2011-0411), and so is a USER name given before; returns the octets dropped."""
        if not self._awaiting_tls:
            raise LocalProtocolError("start_tls without an accepted STLS")
        self._awaiting_tls = False
        self._tls = True
        # RFC 2595 section 4: forget what the client said before, such as USER's argument.
        self._username = None
        return self._reader.clear()

    def send_message(self) -> bytes:
        """Queue the "+OK" of RETR/TOP; the caller then writes the content (message.py)."""
        question = self._answer(MessageRequested)
        assert isinstance(question, MessageRequested) and self._maildrop is not None
        if question.lines is None:
            self._maildrop.retrieved.add(question.number)
            return self._reply(replies.ok(f"{question.message.size} octets"))
        return self._reply(replies.ok("Top of message follows"))

    def message_failed(self, reply: Reply | None = None) -> bytes:
        self._answer(MessageRequested)
        return self._reply(reply or replies.temporary_failure("Message temporarily unavailable"))

    def update_done(self, deleted: int) -> bytes:
        self._answer(UpdateRequested)
        self._state = next_state(self._state, "update_finished")
        return self._reply(replies.signing_off(self.config.hostname, deleted))

    def update_failed(self, reply: Reply | None = None) -> bytes:
        self._answer(UpdateRequested)
        self._state = next_state(self._state, "update_finished")
        return self._reply(reply or replies.update_failed())

    # --- commands -----------------------------------------------------------------------

    def _handle_line(self, line: bytes | object) -> Event | None:
        if line is TOO_LONG:
            self._sasl_mechanism = None
            return self._error(replies.line_too_long(), None)
        assert isinstance(line, bytes)
        if self._sasl_mechanism is not None:
            return self._sasl_line(line)
        try:
            command = parse_command(line)
        except RemoteProtocolError as exc:
            return self._error(exc.reply, None)
        if command.verb not in ALLOWED[self._state]:
            return self._error(replies.wrong_state(), command.verb)
        handler = getattr(self, f"_handle_{command.verb.lower()}")
        try:
            event: Event | None = handler(command)
        except RemoteProtocolError as exc:
            return self._error(exc.reply, command.verb)
        return event

    def _handle_capa(self, command: Command) -> None:
        lines = capabilities(self.config, state=self._state, tls=self._tls)
        self._queue(replies.ok("Capability list follows", lines=lines))

    def _handle_user(self, command: Command) -> None:
        if not plaintext_allowed(self.config, tls=self._tls):
            self._queue(replies.plaintext_disallowed())
            return
        self._username = command.args[0]
        # The same answer for every name: it must not tell which mailboxes exist.
        self._queue(replies.ok("Send PASS"))

    def _handle_pass(self, command: Command) -> Event | None:
        if not plaintext_allowed(self.config, tls=self._tls):
            self._queue(replies.plaintext_disallowed())
            return None
        if self._username is None:
            raise RemoteProtocolError(replies.user_first())
        username, self._username = self._username, None
        return self._ask(PasswordReceived(username, command.args[0]))

    def _handle_apop(self, command: Command) -> None:
        # APOP needs the clear-text password on the server (RFC 1939 section 7); we keep none.
        self._queue(replies.err("APOP not supported", replies.RespCode.AUTH))

    def _handle_auth(self, command: Command) -> Event | None:
        offered = usable_mechanisms(self.config, tls=self._tls)
        if not command.args:
            # The mechanism list of RFC 1734, which older clients still ask for.
            self._queue(replies.ok("Supported mechanisms follow", lines=offered))
            return None
        mechanism = command.args[0].upper()
        if mechanism not in self.config.sasl_mechanisms:
            raise RemoteProtocolError(replies.auth_mechanism_unknown())
        if mechanism not in offered and mechanism in PLAINTEXT_MECHANISMS:
            self._queue(replies.plaintext_disallowed())
            return None
        initial: bytes | None = None
        if len(command.args) == 2:
            # RFC 5034 section 4: "=" is an empty initial response.
            initial = b"" if command.args[1] == "=" else _decode_base64(command.args[1])
        self._sasl_mechanism = mechanism
        return self._ask(AuthStarted(mechanism, initial))

    def _sasl_line(self, line: bytes) -> Event | None:
        mechanism = self._sasl_mechanism
        assert mechanism is not None
        if line == CANCEL:
            self._sasl_mechanism = None
            self._queue(replies.auth_cancelled())
            return None
        try:
            data = _decode_base64(decode_line(line))
        except RemoteProtocolError as exc:
            self._sasl_mechanism = None
            return self._error(exc.reply, "AUTH")
        return self._ask(AuthResponse(mechanism, data))

    def _handle_stls(self, command: Command) -> Event:
        if self._tls:
            raise RemoteProtocolError(replies.already_tls())
        if not self.config.tls_available:
            raise RemoteProtocolError(replies.stls_not_available())
        return self._ask(StartTlsRequested())

    def _handle_quit(self, command: Command) -> Event:
        if self._state is State.AUTHORIZATION:
            self._state = next_state(self._state, "quit")
            self._queue(replies.signing_off(self.config.hostname))
            return QuitReceived()
        drop = self._drop()
        self._state = next_state(self._state, "quit")
        return self._ask(UpdateRequested(drop.marked(), drop.retrieved_kept()))

    def _handle_stat(self, command: Command) -> None:
        count, size = self._drop().stat()
        self._queue(replies.ok(f"{count} {size}"))

    def _handle_list(self, command: Command) -> None:
        if command.args:
            number = int(command.args[0])
            self._queue(replies.ok(f"{number} {self._message(number).size}"))
            return
        drop = self._drop()
        count, size = drop.stat()
        lines = tuple(f"{n} {m.size}" for n, m in drop.live())
        self._queue(replies.ok(f"{count} messages ({size} octets)", lines=lines))

    def _handle_uidl(self, command: Command) -> None:
        if command.args:
            number = int(command.args[0])
            self._queue(replies.ok(f"{number} {self._message(number).unique_id}"))
            return
        lines = tuple(f"{n} {m.unique_id}" for n, m in self._drop().live())
        self._queue(replies.ok("Unique-ID listing follows", lines=lines))

    def _handle_retr(self, command: Command) -> Event:
        number = int(command.args[0])
        return self._ask(MessageRequested(number, self._message(number)))

    def _handle_top(self, command: Command) -> Event:
        number, lines = int(command.args[0]), int(command.args[1])
        return self._ask(MessageRequested(number, self._message(number), lines))

    def _handle_dele(self, command: Command) -> None:
        number = int(command.args[0])
        self._message(number)
        self._drop().deleted.add(number)
        self._queue(replies.ok(f"Message {number} deleted"))

    def _handle_rset(self, command: Command) -> None:
        drop = self._drop()
        drop.deleted.clear()
        count, size = drop.stat()
        self._queue(replies.ok(f"Maildrop has {count} messages ({size} octets)"))

    def _handle_noop(self, command: Command) -> None:
        self._queue(replies.ok())

    # --- helpers ------------------------------------------------------------------------

    def _drop(self) -> Maildrop:
        if self._maildrop is None:  # TRANSACTION is only entered through login_succeeded
            raise LocalProtocolError("no maildrop in TRANSACTION state")
        return self._maildrop

    def _message(self, number: int) -> MaildropMessage:
        drop = self._drop()
        message = drop.get(number)
        if message is None:
            # RFC 1939 section 5: a message marked as deleted may not be referred to.
            reply = replies.already_deleted(number) if drop.exists(number) else replies.no_such_message()
            raise RemoteProtocolError(reply)
        return message

    def _ask(self, question: Question) -> Question:
        self._pending = question
        return question

    def _answer(self, *kinds: type[Question]) -> Question:
        pending = self._pending
        if pending is None or not isinstance(pending, kinds):
            names = "/".join(k.__name__ for k in kinds)
            raise LocalProtocolError(f"no {names} to answer (pending: {type(pending).__name__})")
        self._pending = None
        return pending

    def _queue(self, reply: Reply) -> None:
        self._out += reply.to_bytes()

    def _reply(self, reply: Reply) -> bytes:
        self._queue(reply)
        return self.data_to_send()

    def _error(self, reply: Reply, verb: str | None) -> Event:
        self._errors += 1
        if self._errors >= self.config.limits.max_errors:
            self._terminate(replies.too_many_errors())
            return self._events.popleft()
        self._queue(reply)
        return ProtocolError(reply, verb)

    def _terminate(self, reply: Reply) -> None:
        self._queue(reply)
        self._sasl_mechanism = None
        self._state = next_state(self._state, "terminated")
        self._events.append(SessionTerminated(reply))


def _decode_base64(text: str) -> bytes:
    try:
        return binascii.a2b_base64(text.encode("ascii"), strict_mode=True)
    except (binascii.Error, UnicodeEncodeError):
        raise RemoteProtocolError(replies.auth_bad_base64()) from None
