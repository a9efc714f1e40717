"""Reading DATA content: dot-unstuffing, the one true terminator, bare newlines, long lines.

How this works
--------------
After 354 the client sends lines ending in <CRLF>; a line holding only "."
ends the message, and a line starting with "." has that first dot removed
(transparency, RFC 5321 section 4.5.2). The reader is a byte-level state
machine that keeps at most "a dot and a <CR>" of state between calls, so
content streams out in pieces of whatever size the transport reads and the
memory a message costs is bounded by one read:

    LINE_START --"."--> DOT --CR--> DOT_CR --LF--> end of data
        |                |              `--other--> (dot removed) CR pending
        |                `--other--> (dot removed) IN_LINE
        `--other--> IN_LINE --CR--> CR --LF--> emit CRLF, LINE_START
                              |          `--other--> bare CR
                              `--LF--> bare LF

Only <CRLF>.<CRLF> ends the data (RFC 5321 section 4.1.1.4: "<LF>.<LF> ...
MUST NOT be treated as equivalent"). That closes every "SMTP smuggling"
variant: <LF>.<LF>, <CR>.<CR>, <LF>.<CRLF>, <CRLF>.<LF>, <CR>.<LF> ... are never
an end. What happens to the bare <CR> or <LF> itself is the policy's choice
(``BareNewlinePolicy``): stop at once (REJECT), or deliver it as <CRLF>
(NORMALIZE). A normalised line break does not start a protocol line: the
next "." is content, neither terminator nor stuffing.

Text lines longer than the limit (RFC 5321 section 4.5.3.1.6: 1000 octets
with <CRLF>, stuffing dot not counted) set ``line_too_long``: ``feed`` returns
at the first octet over the limit, and the session fails the message after
its end, without buffering the line.
"""

from __future__ import annotations

import enum
import re
import sys
from dataclasses import dataclass

_CR = 0x0D
_LF = 0x0A
_DOT = 0x2E
_CRLF = b"\r\n"
_CR_OR_LF = re.compile(rb"[\r\n]")


class _At(enum.Enum):
    LINE_START = enum.auto()
    DOT = enum.auto()
    DOT_CR = enum.auto()
    IN_LINE = enum.auto()
    CR = enum.auto()


@dataclass(frozen=True, slots=True)
class DataProgress:
    """What one ``feed`` did: content produced, octets consumed, and whether the data ended."""

    content: bytes
    consumed: int
    finished: bool = False
    bare_newline: bool = False


class DotReader:
    def __init__(self, *, normalize_bare_newlines: bool, max_line_length: int | None) -> None:
        self._normalize = normalize_bare_newlines
        self._max_line = max_line_length
        self._at = _At.LINE_START  # the <CRLF> of the DATA command line came just before
        self._line_length = 0
        self.line_too_long = False

    def feed(self, buffer: bytes | bytearray) -> DataProgress:
        """Consume from the start of ``buffer`` up to the end of data, or all of it."""
        out: list[bytes] = []
        position = 0
        size = len(buffer)
        while position < size:
            at = self._at
            if at is _At.IN_LINE:
                match = _CR_OR_LF.search(buffer, position)
                stop = match.start() if match else size
                room = self._room()
                if stop - position > room:
                    # The line gets too long inside this run: stop exactly there, so
                    # the caller fails the message at the same octet however the
                    # input was cut into reads.
                    out.append(bytes(buffer[position : position + room]))
                    self._line_length += room + 1
                    self.line_too_long = True
                    return DataProgress(b"".join(out), position + room)
                if stop > position:
                    out.append(bytes(buffer[position:stop]))
                    self._line_length += stop - position
                position = stop
                if match is None:
                    break
                if buffer[position] == _CR:
                    self._at = _At.CR
                    position += 1
                    continue
                # A bare <LF>: never a line end for the protocol.
                if not self._normalize:
                    return DataProgress(b"".join(out), position, bare_newline=True)
                out.append(_CRLF)
                self._line_length = 0
                position += 1
                continue
            octet = buffer[position]
            if at is _At.CR:
                if octet == _LF:
                    out.append(_CRLF)
                    self._end_line()
                    self._at = _At.LINE_START
                    position += 1
                    continue
                # A bare <CR>: deliver it as a line break or stop; the octet after it is
                # read again as ordinary content.
                if not self._normalize:
                    return DataProgress(b"".join(out), position, bare_newline=True)
                out.append(_CRLF)
                self._line_length = 0
                self._at = _At.IN_LINE
            elif at is _At.LINE_START:
                if octet == _DOT:
                    self._at = _At.DOT
                    position += 1
                else:
                    self._at = _At.IN_LINE
            elif at is _At.DOT:
                if octet == _CR:
                    self._at = _At.DOT_CR
                    position += 1
                else:
                    # RFC 5321 section 4.5.2: a line starting with "." and more: drop the dot.
                    self._at = _At.IN_LINE
            else:  # _At.DOT_CR
                if octet == _LF:
                    return DataProgress(b"".join(out), position + 1, finished=True)
                # "." then a bare <CR>: the dot was stuffing; the <CR> is handled as bare.
                self._at = _At.CR
        return DataProgress(b"".join(out), position)

    def _room(self) -> int:
        """Content octets the current line may still take before it is too long."""
        if self._max_line is None or self.line_too_long:
            return sys.maxsize
        return max(self._max_line - 2 - self._line_length, 0)

    def _end_line(self) -> None:
        self._line_length = 0
