"""The sans-I/O IMAP server session: bytes in, events and response bytes out.

How this works
--------------
The transport owns the socket and drives the session like the SMTP core::

    session.receive_data(chunk)            # b"" when the peer closed
    while (event := session.next_event()) is not NEED_DATA:
        ...                                # answer questions, stream APPEND data
    writer.write(session.data_to_send())

``next_event()`` reads as far as the buffered bytes allow. Framing (lines,
literals, limits) is ``reader``; syntax is ``parser``; which command may run
when is the table in ``states``. What the core can answer alone it answers:
syntax errors and wrong-state commands (``BAD``), CAPABILITY, LOGOUT, ENABLE,
ID, STARTTLS, COMPRESS, literal continuations, IDLE's ``+``. Every other
command becomes a ``CommandReceived`` question for the service layer, which
sends data with ``untagged()`` and ends it with one tagged completion. The
core reads no further command until then, so responses to pipelined commands
never interleave (RFC 9051 section 5.5 allows this serial order).

Modes besides reading commands: waiting for the greeting, reading SASL
responses (AUTHENTICATE), reading DONE (IDLE), and waiting for the transport
to run a TLS handshake or start compression (nothing more is read).
"""

from __future__ import annotations

import base64
import binascii
import enum
from dataclasses import dataclass, replace
from typing import Any

from . import commands as c
from . import responses as r
from .capabilities import ENABLEABLE, THREAD_ALGORITHMS, capabilities, login_allowed
from .config import SessionConfig
from .errors import LocalProtocolError, RemoteProtocolError
from .events import (
    NEED_DATA,
    AppendAborted,
    AppendDataChunk,
    AppendDataEnded,
    AppendDataStarted,
    AuthCancelled,
    AuthResponse,
    CommandReceived,
    CompressionRequested,
    ConnectionLost,
    Event,
    ExtensionsEnabled,
    GreetingNeeded,
    IdleDone,
    IdReceived,
    LogoutReceived,
    NeedData,
    ProtocolError,
    Question,
    SessionClosed,
    StartTlsRequested,
)
from .parser import parse_command
from .reader import (
    CommandReader,
    CommandUnit,
    ContinueLiteral,
    FramingError,
    LineProblem,
    StreamChunk,
    StreamEnded,
    StreamStarted,
)
from .responses import ResponseCode, StatusResponse
from .search import uses_modseq
from .states import ON_FAILURE, ON_SUCCESS, State, refusal

#: RFC 9051 section 6.4.4: US-ASCII and UTF-8 must be supported; we support only those.
CHARSETS = ("UTF-8", "US-ASCII")


class Mode(enum.Enum):
    GREETING = enum.auto()
    COMMANDS = enum.auto()
    #: A command or SASL step is with the service layer.
    WAITING = enum.auto()
    AUTHENTICATING = enum.auto()
    IDLING = enum.auto()
    AWAITING_TLS = enum.auto()
    AWAITING_COMPRESSION = enum.auto()
    CLOSED = enum.auto()


@dataclass
class _Pending:
    question: Question
    command: c.Command | None
    delivered: bool = False


class Session:
    def __init__(self, config: SessionConfig) -> None:
        self.config = config
        self._state = State.NOT_AUTHENTICATED
        self._mode = Mode.GREETING
        self._buffer = bytearray()
        self._out = bytearray()
        # A list, not a deque: it rarely holds more than two events, and an empty deque costs
        # 600 bytes more than an empty list in every idle session.
        self._events: list[Event] = []
        self._reader = self._new_reader()
        self._pending: _Pending | None = None
        self._auth: c.Authenticate | None = None
        self._idle: c.Idle | None = None
        self._stray_done = False
        self._enabled: set[str] = set()
        self._condstore = False
        self._tls_active = config.tls_active
        self._compression_active = False
        self._authenticated_as: str | None = None
        self._read_only = False
        self._errors = 0
        self._eof = False

    # --- what the caller may look at ---------------------------------------------------

    @property
    def state(self) -> State:
        return self._state

    @property
    def mode(self) -> Mode:
        return self._mode

    @property
    def tls_active(self) -> bool:
        return self._tls_active

    @property
    def compression_active(self) -> bool:
        return self._compression_active

    @property
    def authenticated_as(self) -> str | None:
        return self._authenticated_as

    @property
    def enabled(self) -> frozenset[str]:
        """Extensions turned on by ENABLE (upper case: CONDSTORE, QRESYNC, UTF8=ACCEPT, IMAP4REV2)."""
        return frozenset(self._enabled)

    @property
    def utf8(self) -> bool:
        """Mailbox names and strings are UTF-8 (RFC 6855 section 3, RFC 9051 section 6.3.1)."""
        return bool(self._enabled & {"UTF8=ACCEPT", "IMAP4REV2"})

    @property
    def condstore(self) -> bool:
        """CONDSTORE is on: enabled, or implied by a CONDSTORE-using command (RFC 7162 section 3.1)."""
        return self._condstore or bool(self._enabled & {"CONDSTORE", "QRESYNC"})

    @property
    def qresync(self) -> bool:
        return "QRESYNC" in self._enabled

    @property
    def read_only(self) -> bool:
        """The selected mailbox was opened with EXAMINE (or SELECT answered [READ-ONLY])."""
        return self._read_only

    @property
    def reading(self) -> bool:
        """Whether the core consumes input now. While a command is with the service layer (or a
        TLS handshake or compression start is due) it does not: the transport should stop
        reading from the socket then, so pipelined input cannot pile up unbounded."""
        return self._mode in (Mode.COMMANDS, Mode.AUTHENTICATING, Mode.IDLING)

    @property
    def error_count(self) -> int:
        return self._errors

    @property
    def buffered_bytes(self) -> int:
        """Octets held: unread input plus the command being assembled (bounded by the limits)."""
        return len(self._buffer) + self._reader.held_bytes

    def capabilities(self) -> tuple[str, ...]:
        return capabilities(
            self.config, state=self._state, tls_active=self._tls_active, compression_active=self._compression_active
        )

    # --- bytes in, events out, bytes out -------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Buffer bytes from the peer; ``b""`` means the peer closed its side."""
        if self._eof:
            raise LocalProtocolError("receive_data() after the end of the stream")
        if not data:
            self._eof = True
        elif self._mode is not Mode.CLOSED:
            self._buffer += data

    def next_event(self) -> Event | NeedData:
        if self._pending is not None and self._pending.delivered and self._mode is not Mode.IDLING:
            raise LocalProtocolError(f"answer {type(self._pending.question).__name__} first")
        while not self._events and self._step():
            pass
        if not self._events:
            return NEED_DATA
        event = self._events.pop(0)
        if self._pending is not None and event is self._pending.question:
            self._pending.delivered = True
        return event

    def data_to_send(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out

    # --- answers -------------------------------------------------------------------------

    def accept(self) -> bytes:
        """Answer ``GreetingNeeded`` with ``* OK [CAPABILITY ...] <host> ready``."""
        self._answer_greeting()
        caps = r.code("CAPABILITY", self.capabilities())
        self._queue(r.ok(f"{self.config.hostname} IMAP4rev2 server ready", code=caps))
        self._mode = Mode.COMMANDS
        return self.data_to_send()

    def preauthenticated(self, identity: str) -> bytes:
        """Answer ``GreetingNeeded`` with ``* PREAUTH`` (RFC 9051 section 7.1.4)."""
        self._answer_greeting()
        self._state = State.AUTHENTICATED
        self._authenticated_as = identity
        caps = r.code("CAPABILITY", self.capabilities())
        self._queue(r.preauth(f"{self.config.hostname} logged in as {identity}", code=caps))
        self._mode = Mode.COMMANDS
        return self.data_to_send()

    def untagged(self, *responses: r.Response) -> bytes:
        """Queue untagged data (FETCH, EXISTS, ...); allowed at any time before the session closes."""
        if self._mode is Mode.CLOSED:
            raise LocalProtocolError("the session is closed")
        for response in responses:
            if isinstance(response, StatusResponse) and response.tagged:
                raise LocalProtocolError("use ok(), no() or bad() for the tagged completion")
            if isinstance(response, StatusResponse) and response.status == "BYE":
                raise LocalProtocolError("use bye() to end the session")
            self._queue(response)
        return self.data_to_send()

    def ok(self, text: str = "", code: ResponseCode | None = None) -> bytes:
        return self.complete("OK", text, code)

    def no(self, text: str, code: ResponseCode | None = None) -> bytes:
        return self.complete("NO", text, code)

    def bad(self, text: str, code: ResponseCode | None = None) -> bytes:
        return self.complete("BAD", text, code)

    def complete(self, status: str, text: str = "", code: ResponseCode | None = None) -> bytes:
        """End the pending command with its tagged response, and move the state on."""
        pending = self._delivered()
        command = pending.command
        if command is None:
            raise LocalProtocolError("no command is pending")
        if status == "OK" and isinstance(command, c.Login | c.Authenticate):
            raise LocalProtocolError("use login_succeeded() to complete LOGIN or AUTHENTICATE")
        if isinstance(command, c.Idle) and self._mode is Mode.IDLING:
            if status == "OK":
                raise LocalProtocolError("IDLE completes after IdleDone")
            # The service ended IDLE itself (NO/BAD); the client's DONE may already be
            # on its way and is then not a command.
            self._stray_done = True
        base = command.name.removeprefix("UID ")
        self._finish(r.StatusResponse(status, text or f"{command.name} completed", command.tag, code))
        if status == "OK":
            target = ON_SUCCESS.get(base)
            if base == "EXAMINE" or (code is not None and code.name == "READ-ONLY"):
                self._read_only = True
            elif base == "SELECT":
                self._read_only = False
        else:
            target = ON_FAILURE.get(base) if status == "NO" else None
        if target is not None:
            self._state = target
        return self.data_to_send()

    def login_succeeded(self, identity: str, text: str = "") -> bytes:
        """Complete LOGIN/AUTHENTICATE: ``OK [CAPABILITY ...]`` and the authenticated state."""
        pending = self._delivered()
        command = pending.command
        if not isinstance(command, c.Login | c.Authenticate):
            raise LocalProtocolError("login_succeeded() answers LOGIN or AUTHENTICATE")
        self._state = State.AUTHENTICATED
        self._authenticated_as = identity
        caps = r.code("CAPABILITY", self.capabilities())
        self._finish(r.ok(text or f"{command.name} completed", tag=command.tag, code=caps))
        return self.data_to_send()

    def auth_challenge(self, challenge: bytes) -> bytes:
        """Send ``+ <base64>`` and read the client's next SASL response (RFC 9051 section 6.2.2)."""
        pending = self._delivered()
        if not isinstance(pending.command, c.Authenticate):
            raise LocalProtocolError("auth_challenge() answers AUTHENTICATE steps only")
        self._auth = pending.command
        self._pending = None
        self._queue(r.Continuation(challenge=challenge))
        self._mode = Mode.AUTHENTICATING
        return self.data_to_send()

    def bye(self, text: str, code: ResponseCode | None = None) -> bytes:
        """``* BYE`` and close: refuse the greeting, shut down, or time out (RFC 9051 section 7.1.5)."""
        if self._mode is Mode.CLOSED:
            raise LocalProtocolError("the session is already closed")
        self._queue(r.bye(text, code=code))
        self._pending = None
        self._close()
        return self.data_to_send()

    def start_tls(self) -> int:
        """Call after the TLS handshake. Returns how many plaintext octets were dropped.

        RFC 9051 section 6.2.1 and RFC 3207's lesson (CVE-2011-0411): bytes that
        arrived after the STARTTLS line were sent in plaintext and may have been
        injected; they are discarded, never read as commands.
        """
        if self._mode is not Mode.AWAITING_TLS:
            raise LocalProtocolError("start_tls() is only valid after StartTlsRequested")
        dropped = len(self._buffer)
        self._buffer.clear()
        self._reader = self._new_reader()
        self._tls_active = True
        self._mode = Mode.COMMANDS
        return dropped

    def start_compression(self) -> bytes:
        """Call once the OK to COMPRESS is written; returns the octets already received after it.

        Those octets are the start of the compressed stream (RFC 4978 section 3):
        the transport inflates them and feeds the result back with ``receive_data``.
        """
        if self._mode is not Mode.AWAITING_COMPRESSION:
            raise LocalProtocolError("start_compression() is only valid after CompressionRequested")
        pending = bytes(self._buffer)
        self._buffer.clear()
        self._compression_active = True
        self._mode = Mode.COMMANDS
        return pending

    # --- reading -------------------------------------------------------------------------

    def _step(self) -> bool:
        mode = self._mode
        if mode is Mode.GREETING:
            if self._pending is None:
                self._ask(GreetingNeeded(), None)
                return True
            return False
        if mode in (Mode.CLOSED, Mode.WAITING, Mode.AWAITING_TLS, Mode.AWAITING_COMPRESSION):
            progressed = False
        elif mode is Mode.AUTHENTICATING:
            progressed = self._step_sasl()
        elif mode is Mode.IDLING:
            progressed = self._step_idle()
        else:
            progressed = self._step_command()
        if not progressed and self._eof and self._mode is not Mode.CLOSED:
            self._events.append(ConnectionLost())
            self._pending = None
            self._close()
            return True
        return progressed

    def _step_command(self) -> bool:
        event = self._reader.next(self._buffer)
        if event is None:
            return False
        if isinstance(event, ContinueLiteral):
            self._queue(r.Continuation("Ready for literal data"))
        elif isinstance(event, StreamStarted):
            self._events.append(AppendDataStarted(event.tag, event.index, event.size, event.binary))
        elif isinstance(event, StreamChunk):
            self._events.append(AppendDataChunk(event.tag, event.index, event.data))
        elif isinstance(event, StreamEnded):
            self._events.append(AppendDataEnded(event.tag, event.index))
        elif isinstance(event, FramingError):
            if event.streamed:
                self._events.append(AppendAborted(event.tag))
            self._refuse(event.tag, event.error, None)
            if event.close and self._mode is not Mode.CLOSED:
                self._terminate("Cannot resynchronise after a refused literal")
        else:
            self._command(event)
        return True

    def _command(self, unit: CommandUnit) -> None:
        stray_done, self._stray_done = self._stray_done, False
        if stray_done and _is_done(unit):
            return
        if unit.refusal is not None:
            if unit.streamed:
                self._events.append(AppendAborted(unit.tag))
            self._refuse(unit.tag, unit.refusal, unit.name)
            return
        try:
            command = parse_command(unit, utf8=self.utf8, max_depth=self.config.limits.max_depth)
            self._dispatch(command)
        except RemoteProtocolError as error:
            if unit.streamed:
                self._events.append(AppendAborted(unit.tag))
            self._refuse(unit.tag, error, unit.name)

    def _precheck(self, tag: str | None, name: str | None) -> RemoteProtocolError | None:
        """Asked by the reader at a command's first literal: is the command refused already?"""
        if tag is None:
            return RemoteProtocolError("Missing or invalid tag")
        if name is None:
            return RemoteProtocolError("Missing or invalid command name")
        return refusal(self._state, name) or self._login_refusal(name)

    def _check_append_prefix(self, unit: CommandUnit) -> RemoteProtocolError | None:
        """Asked by the reader when APPEND announces message data: is what came before valid?

        ``unit`` is the command so far with the announced literal as its end. A
        mistake in the mailbox name, flags or date is answered before the client
        uploads the message (no ``+``), not after.
        """
        first_error: RemoteProtocolError | None = None
        # The data may end the command, or close RFC 6855's "UTF8 (" ... ")".
        for tail in (b"", b")"):
            try:
                parse_command(replace(unit, parts=(*unit.parts[:-1], tail)), **self._parse_options())
            except RemoteProtocolError as error:
                first_error = first_error or error
            else:
                return None
        return first_error

    def _parse_options(self) -> dict[str, Any]:
        return {"utf8": self.utf8, "max_depth": self.config.limits.max_depth}

    def _login_refusal(self, name: str) -> RemoteProtocolError | None:
        if name in ("LOGIN", "AUTHENTICATE") and not login_allowed(self.config, tls_active=self._tls_active):
            # RFC 9051 section 6.2.3 (LOGINDISABLED) and RFC 5530 PRIVACYREQUIRED.
            return RemoteProtocolError("Authentication needs TLS first", status="NO", code=_PRIVACYREQUIRED)
        return None

    def _dispatch(self, command: c.Command) -> None:
        name = command.name
        error = refusal(self._state, name) or self._login_refusal(name)
        if error is not None:
            raise error
        handler = _CORE.get(type(command))
        if handler is not None:
            handler(self, command)
            return
        self._check(command)
        if isinstance(command, c.Select) and self._state is State.SELECTED:
            # RFC 9051 section 7.1 / RFC 7162 section 3.2.11: the previous mailbox is closed.
            self._state = State.AUTHENTICATED
            if self.qresync or "IMAP4REV2" in self._enabled:
                self._queue(r.ok("Previous mailbox closed", code=r.code("CLOSED")))
        if isinstance(command, c.Idle):
            self._idle = command
            self._queue(r.Continuation("idling"))
            self._ask(CommandReceived(command), command)
            self._mode = Mode.IDLING
            return
        self._ask(CommandReceived(command), command)

    def _check(self, command: c.Command) -> None:
        """Protocol rules that need session state rather than grammar."""
        if isinstance(command, c.Search | c.Sort | c.Thread):
            charset = command.charset
            if charset is not None and charset not in CHARSETS:
                raise RemoteProtocolError("Unsupported charset", status="NO", code=r.code("BADCHARSET", CHARSETS))
            if uses_modseq(command.criteria):
                self._condstore = True
        if isinstance(command, c.Thread) and command.algorithm not in THREAD_ALGORITHMS:
            raise RemoteProtocolError(f"Unsupported THREAD algorithm {command.algorithm}")
        if isinstance(command, c.Select):
            if command.qresync is not None and not self.qresync:
                # RFC 7162 section 3.2.5: QRESYNC parameter without ENABLE QRESYNC is BAD.
                raise RemoteProtocolError("QRESYNC parameter needs ENABLE QRESYNC first")
            self._condstore = self._condstore or command.condstore
        if isinstance(command, c.Fetch):
            if command.vanished and not self.qresync:
                raise RemoteProtocolError("VANISHED needs ENABLE QRESYNC first")
            if command.changed_since is not None or any(a.name == "MODSEQ" for a in command.attributes):
                self._condstore = True
        if isinstance(command, c.Store) and command.unchanged_since is not None:
            self._condstore = True
        if isinstance(command, c.Authenticate) and command.mechanism not in self.config.auth_mechanisms:
            raise RemoteProtocolError("Unsupported authentication mechanism", status="NO", code=r.code("CANNOT"))

    def _step_sasl(self) -> bool:
        auth = self._auth
        assert auth is not None
        line = self._reader.read_plain_line(self._buffer, limit=self.config.limits.max_auth_line)
        if line is None:
            return False
        self._mode = Mode.COMMANDS
        self._auth = None
        if line is LineProblem.TOO_LONG:
            self._refuse(auth.tag, RemoteProtocolError("SASL response too long"), auth.name)
        elif line == b"*":
            # RFC 9051 section 6.2.2: "*" cancels; the server answers BAD.
            self._queue(r.bad("AUTHENTICATE cancelled", tag=auth.tag))
            self._events.append(AuthCancelled(auth.tag, auth.mechanism))
        else:
            try:
                data = base64.b64decode(line, validate=True)
            except (binascii.Error, ValueError):
                self._refuse(auth.tag, RemoteProtocolError("Invalid base64 in SASL response"), auth.name)
                return True
            self._ask(AuthResponse(auth.tag, auth.mechanism, data), auth)
        return True

    def _step_idle(self) -> bool:
        idle = self._idle
        assert idle is not None
        line = self._reader.read_plain_line(self._buffer, limit=self.config.limits.max_auth_line)
        if line is None:
            return False
        self._idle = None
        if line is not LineProblem.TOO_LONG and line.upper() == b"DONE":
            self._mode = Mode.WAITING
            self._events.append(IdleDone(idle))
            return True
        # RFC 2177 section 3: DONE ends IDLE. Nothing else is defined there; we end IDLE with BAD.
        self._pending = None
        self._mode = Mode.COMMANDS
        self._refuse(idle.tag, RemoteProtocolError("Expected DONE to end IDLE"), "IDLE")
        self._events.append(IdleDone(idle, cancelled=True))
        return True

    # --- core-answered commands ----------------------------------------------------------

    def _handle_capability(self, command: c.Command) -> None:
        self._queue(r.capability(self.capabilities()))
        self._queue(r.ok("CAPABILITY completed", tag=command.tag))

    def _handle_logout(self, command: c.Command) -> None:
        # RFC 9051 section 6.1.3: untagged BYE, then the tagged OK, then close.
        self._queue(r.bye(f"{self.config.hostname} logging out"))
        self._queue(r.ok("LOGOUT completed", tag=command.tag))
        self._state = State.LOGOUT
        self._events.append(LogoutReceived())
        self._close()

    def _handle_enable(self, command: c.Command) -> None:
        assert isinstance(command, c.Enable)
        # RFC 5161 section 3.1: unknown names are ignored; ENABLED lists what this command turned on.
        new = []
        for name in command.capabilities:
            if name in ENABLEABLE and name not in self._enabled:
                new.append(name)
                self._enabled.add(name)
        if "QRESYNC" in new and "CONDSTORE" not in self._enabled:
            # RFC 7162 section 3.2: enabling QRESYNC also enables CONDSTORE.
            self._enabled.add("CONDSTORE")
        spelled = ["IMAP4rev2" if n == "IMAP4REV2" else n for n in new]
        self._queue(r.enabled(spelled))
        self._queue(r.ok("ENABLE completed", tag=command.tag))
        self._events.append(ExtensionsEnabled(tuple(new)))

    def _handle_id(self, command: c.Command) -> None:
        assert isinstance(command, c.Id)
        self._queue(r.id_response(dict(self.config.server_id)))
        self._queue(r.ok("ID completed", tag=command.tag))
        self._events.append(IdReceived(command.params))

    def _handle_starttls(self, command: c.Command) -> None:
        if self._tls_active:
            raise RemoteProtocolError("TLS is already active")
        if not self.config.tls_available:
            raise RemoteProtocolError("STARTTLS is not available")
        self._queue(r.ok("Begin TLS negotiation now", tag=command.tag))
        self._mode = Mode.AWAITING_TLS
        self._events.append(StartTlsRequested())

    def _handle_compress(self, command: c.Command) -> None:
        assert isinstance(command, c.Compress)
        if self._compression_active:
            raise RemoteProtocolError("Compression is already active", status="NO", code=r.code("COMPRESSIONACTIVE"))
        if not self.config.compression or command.mechanism != "DEFLATE":
            raise RemoteProtocolError(f"Unsupported compression {command.mechanism}", status="NO", code=_CANNOT)
        self._queue(r.ok("DEFLATE active", tag=command.tag))
        self._mode = Mode.AWAITING_COMPRESSION
        self._events.append(CompressionRequested(command.mechanism))

    # --- plumbing ------------------------------------------------------------------------

    def _new_reader(self) -> CommandReader:
        return CommandReader(
            self.config.limits,
            precheck=self._precheck,
            message_check=self._check_append_prefix,
            literal_minus=self.config.literal_minus,
        )

    def _answer_greeting(self) -> None:
        pending = self._delivered()
        if not isinstance(pending.question, GreetingNeeded):
            raise LocalProtocolError("there is no greeting to answer")
        self._pending = None

    def _ask(self, question: Question, command: c.Command | None) -> None:
        self._pending = _Pending(question, command)
        if not isinstance(question, GreetingNeeded):
            self._mode = Mode.WAITING
        self._events.append(question)

    def _delivered(self) -> _Pending:
        if self._pending is None or not self._pending.delivered:
            raise LocalProtocolError("there is no question to answer")
        return self._pending

    def _finish(self, response: StatusResponse) -> None:
        self._queue(response)
        self._pending = None
        self._idle = None
        if self._mode is not Mode.CLOSED:
            self._mode = Mode.COMMANDS

    def _queue(self, response: r.Response) -> None:
        self._out += response.to_bytes(utf8=self.utf8)

    def _refuse(self, tag: str | None, error: RemoteProtocolError, name: str | None) -> None:
        response = StatusResponse(error.status, error.text, tag, error.code)
        self._queue(response)
        self._events.append(ProtocolError(response, name))
        if error.status == "BAD":
            self._errors += 1
            if self._errors >= self.config.limits.max_errors:
                self._terminate("Too many invalid commands")

    def _terminate(self, text: str) -> None:
        response = r.bye(text)
        self._queue(response)
        self._events.append(SessionClosed(response))
        self._close()

    def _close(self) -> None:
        self._mode = Mode.CLOSED
        self._buffer.clear()


def _is_done(unit: CommandUnit) -> bool:
    (line,) = unit.parts if len(unit.parts) == 1 else (b"",)
    return isinstance(line, bytes) and line.upper() == b"DONE"


_PRIVACYREQUIRED = ResponseCode("PRIVACYREQUIRED")
_CANNOT = ResponseCode("CANNOT")

_CORE: dict[type[c.Command], Any] = {
    c.Capability: Session._handle_capability,
    c.Logout: Session._handle_logout,
    c.Enable: Session._handle_enable,
    c.Id: Session._handle_id,
    c.StartTls: Session._handle_starttls,
    c.Compress: Session._handle_compress,
}
