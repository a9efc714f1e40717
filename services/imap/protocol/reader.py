"""Cutting the client's byte stream into commands: lines plus the literals they announce.

How this works
--------------
An IMAP command is a line, unless the line ends with a literal announcement
(RFC 9051 section 4.3): ``{n}`` (synchronising: the client waits for our
``+`` before sending the octets), ``{n+}`` (non-synchronising, LITERAL+ /
LITERAL-, RFC 7888) or ``~{n}`` (literal8, RFC 3516). After the ``n`` octets
the command goes on with another line, which may announce another literal,
and so on. ``CommandReader.next()`` takes bytes off the session's buffer and
returns one framing event at a time:

* ``CommandUnit`` -- a whole command: text segments alternating with literals;
* ``ContinueLiteral`` -- a synchronising literal is acceptable: send ``+``;
* ``StreamStarted`` / ``StreamChunk`` / ``StreamEnded`` -- APPEND message data,
  handed out as it arrives and never accumulated;
* ``FramingError`` -- a limit was broken; the response to send, and whether
  the connection must close because the stream cannot be resynchronised.

Memory stays bounded: command text is limited by ``max_line`` (an overlong
line is dropped as it arrives, keeping only its head and tail), literals held
in memory by ``max_literal`` and ``max_command``, and message data is streamed.

Recovery rules
--------------
* An unacceptable *synchronising* literal (too large, too many literals, or a
  command already refused in this state) is answered with the tagged response
  instead of ``+``; the client has not sent the octets and abandons the command
  (RFC 9051 section 7.5: "prevent the client from sending any more of the
  command"). Reading goes on with the next line.
* An oversize *non-synchronising* literal gets ``BAD [TOOBIG]`` and the
  connection is closed: its octets follow at once and cannot be told from
  commands without reading all of them (RFC 7888 section 4 for LITERAL-).
* A non-synchronising literal that fits but belongs to a refused command is
  read and dropped, then the command is refused.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable
from dataclasses import dataclass

from .errors import RemoteProtocolError
from .limits import LITERAL_MINUS_MAX, Limits
from .responses import ResponseCode

# A literal announcement at the very end of a line; up to 20 digits (number64 has 19).
_LITERAL_AT_END = re.compile(rb"(~?)\{([0-9]{1,20})(\+?)\}\Z")
_LITERAL_TAIL = re.compile(rb"(~?)\{([0-9]+)(\+?)\}\Z")
# RFC 9051 section 9: tag = 1*<any ASTRING-CHAR except "+">
_TAG = re.compile(rb"[!#$&',-Z\[\]^-z|}~]+")
_ATOM = re.compile(rb"[!#$&'+-Z\^-z|}~]+")


@dataclass(frozen=True, slots=True)
class LiteralValue:
    """A literal held in memory (anything but APPEND message data)."""

    data: bytes
    binary: bool = False


@dataclass(frozen=True, slots=True)
class StreamedLiteral:
    """APPEND message data; its octets went out as ``StreamChunk`` events."""

    index: int
    size: int
    binary: bool


Part = bytes | LiteralValue | StreamedLiteral


@dataclass(frozen=True, slots=True)
class CommandUnit:
    """A whole command. ``parts`` alternate: text, literal, text, ..., text."""

    tag: str | None
    name: str | None
    parts: tuple[Part, ...]
    #: The command was refused while its literals arrived (wrong state): answer this.
    refusal: RemoteProtocolError | None = None
    #: Message data of this command was streamed out.
    streamed: bool = False


@dataclass(frozen=True, slots=True)
class ContinueLiteral:
    """A synchronising literal may be sent: write ``+ ...``."""


@dataclass(frozen=True, slots=True)
class StreamStarted:
    tag: str | None
    index: int
    size: int
    binary: bool


@dataclass(frozen=True, slots=True)
class StreamChunk:
    tag: str | None
    index: int
    data: bytes


@dataclass(frozen=True, slots=True)
class StreamEnded:
    tag: str | None
    index: int


@dataclass(frozen=True, slots=True)
class FramingError:
    tag: str | None
    error: RemoteProtocolError
    #: Octets the client has already committed to sending cannot be skipped: close.
    close: bool = False
    #: Message data of this command was streamed out and must be dropped.
    streamed: bool = False


ReaderEvent = CommandUnit | ContinueLiteral | StreamStarted | StreamChunk | StreamEnded | FramingError
Precheck = Callable[[str | None, str | None], RemoteProtocolError | None]
MessageCheck = Callable[[CommandUnit], RemoteProtocolError | None]


class LineProblem(enum.Enum):
    TOO_LONG = "too long"


class _Mode(enum.Enum):
    LINE = enum.auto()
    LITERAL = enum.auto()
    DISCARD_LINE = enum.auto()


class CommandReader:
    def __init__(
        self,
        limits: Limits,
        *,
        precheck: Precheck | None = None,
        message_check: MessageCheck | None = None,
        literal_minus: bool = False,
    ) -> None:
        self.limits = limits
        self.literal_minus = literal_minus
        #: At a command's first literal: is the command refused (state, name, tag)?
        self._precheck = precheck or (lambda tag, name: None)
        #: At each APPEND message literal: is the command up to here valid?
        self._message_check = message_check or (lambda unit: None)
        # A list, not a deque: one or two events at a time, and an empty deque costs 600 bytes
        # more than an empty list in every idle session.
        self._pending: list[ReaderEvent] = []
        self._mode = _Mode.LINE
        self._discarding_plain = False
        self._reset()

    def _reset(self) -> None:
        self._parts: list[Part] = []
        self._text = 0
        self._held = 0
        self._literals = 0
        self._tag: str | None = None
        self._name: str | None = None
        self._append = False
        self._name_end = 0
        self._refusal: RemoteProtocolError | None = None
        self._prechecked = False
        self._streamed = 0
        self._head = b""
        self._tail = b""
        # literal in progress
        self._remaining = 0
        self._literal_size = 0
        self._literal_buffer = bytearray()
        self._literal_kind = "hold"  # "hold" | "stream" | "drop"
        self._literal_binary = False
        self._mode = _Mode.LINE

    @property
    def held_bytes(self) -> int:
        return self._text + self._held + len(self._literal_buffer) + len(self._head) + len(self._tail)

    # --- commands ---------------------------------------------------------------------------

    def next(self, buffer: bytearray) -> ReaderEvent | None:
        """The next framing event from ``buffer`` (consumed as read); ``None``: need more bytes."""
        while not self._pending:
            if self._mode is _Mode.LITERAL:
                progressed = self._read_literal(buffer)
            elif self._mode is _Mode.DISCARD_LINE:
                progressed = self._discard_line(buffer)
            else:
                progressed = self._read_line(buffer)
            if not progressed:
                return None
        return self._pending.pop(0)

    def _read_line(self, buffer: bytearray) -> bool:
        end = buffer.find(b"\n")
        if end < 0:
            if self._text + len(buffer) > self.limits.max_line:
                self._start_discarding(buffer)
                return True
            return False
        self._text += end + 1
        if self._text > self.limits.max_line:
            self._start_discarding(buffer)
            return True
        line = bytes(buffer[:end])
        del buffer[: end + 1]
        if line.endswith(b"\r"):
            line = line[:-1]
        if not self._parts:
            self._identify(line)
        match = _LITERAL_AT_END.search(line)
        if match is None:
            self._parts.append(line)
            self._emit_command()
            return True
        self._parts.append(line[: match.start()])
        self._announce(binary=bool(match.group(1)), size=int(match.group(2)), sync=not match.group(3))
        return True

    def _emit_command(self) -> None:
        unit = CommandUnit(self._tag, self._name, tuple(self._parts), self._refusal, bool(self._streamed))
        self._reset()
        self._pending.append(unit)

    def _identify(self, line: bytes) -> None:
        tag, _, rest = line.partition(b" ")
        self._tag = tag.decode("ascii") if _TAG.fullmatch(tag) else None
        words = rest.split(b" ", 2)
        name = words[0].upper()
        if name == b"UID" and len(words) > 1:
            name = b"UID " + words[1].upper()
        self._name = name.decode("ascii") if _ATOM.fullmatch(name.replace(b" ", b"")) else None
        self._append = name == b"APPEND"
        self._name_end = len(tag) + 1 + len(name)

    def _is_message_literal(self) -> bool:
        """In APPEND every literal is message data except a mailbox name as first argument."""
        if not self._append:
            return False
        if self._literals > 1:
            return True
        first = self._parts[0]
        assert isinstance(first, bytes)
        return bool(first[self._name_end :].strip())

    def _announce(self, *, binary: bool, size: int, sync: bool) -> None:
        limits = self.limits
        self._literals += 1
        if not self._prechecked:
            self._prechecked = True
            self._refusal = self._precheck(self._tag, self._name)
        stream = self._is_message_literal()
        if stream and self._refusal is None:
            probe = (*self._parts, StreamedLiteral(self._streamed, size, binary), b"")
            self._refusal = self._message_check(CommandUnit(self._tag, self._name, probe))
        problem: RemoteProtocolError | None = None
        if self._literals > limits.max_literals:
            problem = RemoteProtocolError("Too many literals in one command", code=ResponseCode("LIMIT"))
        elif stream and size > limits.append_limit:
            # RFC 7889 section 4: a message over APPENDLIMIT gets a tagged NO [TOOBIG].
            problem = RemoteProtocolError("Message is larger than APPENDLIMIT", status="NO", code=_TOOBIG)
        elif not stream and size > min(limits.max_literal, limits.max_command - self._text - self._held):
            problem = RemoteProtocolError("Literal too large", code=_TOOBIG)
        elif not sync and self.literal_minus and size > LITERAL_MINUS_MAX:
            problem = RemoteProtocolError("Non-synchronizing literal over 4096 octets (LITERAL-)", code=_TOOBIG)
        if sync and self._refusal is not None:
            # The client waits for "+": the refusal is the whole answer, whatever the size.
            self._pending.append(FramingError(self._tag, self._refusal, streamed=bool(self._streamed)))
            self._reset()
            return
        if problem is not None:
            self._pending.append(FramingError(self._tag, problem, close=not sync, streamed=bool(self._streamed)))
            self._reset()
            return
        self._remaining = size
        self._literal_size = size
        self._literal_binary = binary
        self._literal_buffer = bytearray()
        self._mode = _Mode.LITERAL
        if self._refusal is not None:
            self._literal_kind = "drop"
        elif stream:
            self._literal_kind = "stream"
        else:
            self._literal_kind = "hold"
        if sync:
            self._pending.append(ContinueLiteral())
        if self._literal_kind == "stream":
            self._pending.append(StreamStarted(self._tag, self._streamed, size, binary))
        if size == 0:
            self._finish_literal()

    def _read_literal(self, buffer: bytearray) -> bool:
        take = min(self._remaining, len(buffer))
        if take == 0:
            return False
        data = bytes(buffer[:take])
        del buffer[:take]
        self._remaining -= take
        if self._literal_kind == "stream":
            self._pending.append(StreamChunk(self._tag, self._streamed, data))
        elif self._literal_kind == "hold":  # "drop": read and forgotten
            self._literal_buffer += data
        if self._remaining == 0:
            self._finish_literal()
        return True

    def _finish_literal(self) -> None:
        if self._literal_kind == "stream":
            self._pending.append(StreamEnded(self._tag, self._streamed))
            self._parts.append(StreamedLiteral(self._streamed, self._literal_size, self._literal_binary))
            self._streamed += 1
        else:
            data = bytes(self._literal_buffer)
            self._held += len(data)
            self._parts.append(LiteralValue(data, self._literal_binary))
        self._literal_buffer = bytearray()
        self._mode = _Mode.LINE

    # --- overlong lines ---------------------------------------------------------------------

    def _start_discarding(self, buffer: bytearray) -> None:
        if not self._parts:
            self._head = bytes(buffer[:200])
        self._tail = b""
        self._mode = _Mode.DISCARD_LINE
        self._discard_line(buffer)

    def _discard_line(self, buffer: bytearray) -> bool:
        end = buffer.find(b"\n")
        if end < 0:
            if not buffer:
                return False
            self._tail = (self._tail + bytes(buffer[-64:]))[-64:]
            del buffer[:]
            return True
        self._tail = (self._tail + bytes(buffer[max(0, end - 64) : end]))[-64:]
        del buffer[: end + 1]
        if self._head:
            self._identify(self._head.split(b"\r")[0].split(b"\n")[0])
        match = _LITERAL_TAIL.search(self._tail.rstrip(b"\r"))
        close = bool(match and match.group(3))
        error = RemoteProtocolError("Command line too long", code=_TOOBIG)
        self._pending.append(FramingError(self._tag, error, close=close, streamed=bool(self._streamed)))
        self._reset()
        return True

    # --- plain lines (IDLE's DONE, SASL responses) ------------------------------------------

    def read_plain_line(self, buffer: bytearray, *, limit: int) -> bytes | LineProblem | None:
        """One line without its line end, for modes where no literal can occur."""
        end = buffer.find(b"\n")
        if self._discarding_plain:
            if end < 0:
                del buffer[:]
                return None
            del buffer[: end + 1]
            self._discarding_plain = False
            return LineProblem.TOO_LONG
        if end < 0:
            if len(buffer) > limit:
                self._discarding_plain = True
                del buffer[:]
            return None
        line = bytes(buffer[:end])
        del buffer[: end + 1]
        if len(line) + 1 > limit:
            return LineProblem.TOO_LONG
        return line[:-1] if line.endswith(b"\r") else line


_TOOBIG = ResponseCode("TOOBIG")
