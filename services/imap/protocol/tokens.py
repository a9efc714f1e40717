"""Reading the basic IMAP data types off a command (RFC 9051 section 9, section 4).

A ``Cursor`` walks over the text segments and literals of one ``CommandUnit``
and reads atoms, numbers, strings, sequence sets, mailbox names, flags and
dates. Every mismatch raises ``ParseError`` with a message naming what was
expected, which becomes the text of the ``BAD`` response. Nesting depth is
counted here, so deep parentheses are refused before recursion goes deep.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from typing import TypeVar

from . import mutf7
from .errors import ParseError
from .reader import LiteralValue, Part, StreamedLiteral
from .sequence import SequenceSet

T = TypeVar("T")

# ATOM-CHAR: any CHAR except atom-specials: ( ) { SP CTL % * " \ ]
_ATOM = re.compile(rb"[!#$&'+-Z\[^-z|}~]+")
# ASTRING-CHAR adds resp-specials ("]").
_ASTRING = re.compile(rb"[!#$&'+-Z\[\]^-z|}~]+")
# list-char: ATOM-CHAR / list-wildcards / resp-specials.
_LIST_CHARS = re.compile(rb"[!#$%&'*+-Z\[\]^-z|}~]+")
_NUMBER = re.compile(rb"[0-9]+")
_SEQUENCE = re.compile(rb"[0-9:*,$]+")
_MONTHS = {m: i + 1 for i, m in enumerate("JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split())}
_DATE = re.compile(rb"([0-9]{1,2})-([A-Za-z]{3})-([0-9]{4})")
_DATE_TIME = re.compile(
    rb'"([ 0-9][0-9])-([A-Za-z]{3})-([0-9]{4}) ([0-9]{2}):([0-9]{2}):([0-9]{2}) ([+-])([0-9]{2})([0-9]{2})"'
)
MAX_NUMBER = 4294967295
MAX_NUMBER64 = 9223372036854775807


class Cursor:
    def __init__(self, parts: tuple[Part, ...], *, utf8: bool = False, max_depth: int = 100) -> None:
        if not parts or not isinstance(parts[0], bytes):
            raise ParseError("Empty command")
        self.parts = parts
        self.utf8 = utf8
        self.max_depth = max_depth
        self.depth = 0
        self._index = 0
        self._pos = 0

    # --- position ---------------------------------------------------------------------------

    @property
    def _segment(self) -> bytes:
        part = self.parts[self._index]
        assert isinstance(part, bytes)
        return part

    def peek(self) -> int | None:
        """The next byte, or ``None`` at a literal or at the end."""
        segment = self._segment
        return segment[self._pos] if self._pos < len(segment) else None

    def peek_literal(self) -> bool:
        return self._pos == len(self._segment) and self._index + 1 < len(self.parts)

    def at_end(self) -> bool:
        return self._pos == len(self._segment) and self._index == len(self.parts) - 1

    def startswith(self, text: bytes) -> bool:
        return self._segment.startswith(text, self._pos) or self._segment[self._pos :].upper().startswith(text)

    def take(self, text: bytes) -> bool:
        """Consume ``text`` (case-insensitive) if it is next."""
        end = self._pos + len(text)
        if self._segment[self._pos : end].upper() == text.upper():
            self._pos = end
            return True
        return False

    def expect(self, text: bytes, what: str | None = None) -> None:
        if not self.take(text):
            raise ParseError(f"Expected {what or repr(text.decode())}")

    def sp(self) -> None:
        if not self.take(b" "):
            raise ParseError("Expected a space")

    def end(self) -> None:
        if not self.at_end():
            raise ParseError("Unexpected characters at end of command")

    def _match(self, pattern: re.Pattern[bytes]) -> bytes | None:
        match = pattern.match(self._segment, self._pos)
        if match is None:
            return None
        self._pos = match.end()
        return match.group(0)

    def enter(self) -> None:
        self.depth += 1
        if self.depth > self.max_depth:
            raise ParseError(f"Too deeply nested (more than {self.max_depth} levels)")

    def leave(self) -> None:
        self.depth -= 1

    # --- basic types ------------------------------------------------------------------------

    def atom(self, what: str = "an atom") -> str:
        raw = self._match(_ATOM)
        if raw is None:
            raise ParseError(f"Expected {what}")
        return raw.decode("ascii")

    def keyword(self) -> str:
        """An atom, upper-cased (command names, item names, options)."""
        return self.atom("a keyword").upper()

    def number(self, what: str = "a number", *, limit: int = MAX_NUMBER, nonzero: bool = False) -> int:
        raw = self._match(_NUMBER)
        if raw is None or len(raw) > 20:
            raise ParseError(f"Expected {what}")
        value = int(raw)
        if value > limit or (nonzero and value == 0):
            raise ParseError(f"{_noun(what).capitalize()} out of range")
        return value

    def number64(self, what: str = "a number") -> int:
        return self.number(what, limit=MAX_NUMBER64)

    def literal(self) -> LiteralValue:
        if not self.peek_literal():
            raise ParseError("Expected a literal")
        part = self.parts[self._index + 1]
        if isinstance(part, StreamedLiteral):
            raise ParseError("Message data is not valid here")
        assert isinstance(part, LiteralValue)
        self._index += 2
        self._pos = 0
        return part

    def streamed_literal(self) -> StreamedLiteral:
        if not self.peek_literal() or not isinstance(self.parts[self._index + 1], StreamedLiteral):
            raise ParseError("Expected message data as a literal")
        part = self.parts[self._index + 1]
        assert isinstance(part, StreamedLiteral)
        self._index += 2
        self._pos = 0
        return part

    def quoted(self) -> bytes:
        segment = self._segment
        if not self.take(b'"'):
            raise ParseError("Expected a quoted string")
        out = bytearray()
        pos = self._pos
        while pos < len(segment):
            char = segment[pos]
            if char == 0x22:  # '"'
                self._pos = pos + 1
                return bytes(out)
            if char == 0x5C:  # '\'
                pos += 1
                if pos >= len(segment) or segment[pos] not in b'"\\':
                    raise ParseError('Invalid escape in quoted string (only \\\\ and \\" are allowed)')
                char = segment[pos]
            elif char == 0 or char == 0x0D:
                raise ParseError("NUL or CR in quoted string")
            out.append(char)
            pos += 1
        raise ParseError("Unterminated quoted string")

    def string_bytes(self) -> bytes:
        """``string`` = quoted / literal, as octets."""
        if self.peek() == 0x22:
            return self.quoted()
        if self.peek_literal():
            literal = self.literal()
            if literal.binary:
                raise ParseError("literal8 is not valid here")
            if b"\0" in literal.data:
                raise ParseError("NUL in literal")
            return literal.data
        raise ParseError("Expected a string")

    def astring_bytes(self) -> bytes:
        if self.peek() == 0x22 or self.peek_literal():
            return self.string_bytes()
        raw = self._match(_ASTRING)
        if raw is None:
            raise ParseError("Expected an atom or string")
        return raw

    def string(self) -> str:
        return _text(self.string_bytes())

    def astring(self) -> str:
        return _text(self.astring_bytes())

    def nstring(self) -> str | None:
        if self.take_nil():
            return None
        return self.string()

    def take_nil(self) -> bool:
        segment = self._segment
        end = self._pos + 3
        if segment[self._pos : end].upper() == b"NIL" and (end == len(segment) or segment[end] in b" )"):
            self._pos = end
            return True
        return False

    # --- IMAP types -------------------------------------------------------------------------

    def sequence_set(self, *, allow_saved: bool = True) -> SequenceSet:
        raw = self._match(_SEQUENCE)
        if raw is None:
            raise ParseError("Expected a sequence set")
        try:
            result = SequenceSet.parse(raw.decode("ascii"))
        except ValueError as error:
            raise ParseError(f"Invalid sequence set: {error}") from None
        if result.saved and not allow_saved:
            raise ParseError("'$' is not valid here")
        return result

    def mailbox(self) -> str:
        """``mailbox`` (RFC 9051 section 9): INBOX in any case is INBOX."""
        return decode_mailbox(self.astring_bytes(), utf8=self.utf8)

    def list_mailbox(self) -> str:
        """``list-mailbox``: like a mailbox, with the wildcards % and * allowed unquoted."""
        if self.peek() == 0x22 or self.peek_literal():
            raw = self.string_bytes()
        else:
            raw = self._match(_LIST_CHARS) or b""
            if not raw:
                raise ParseError("Expected a mailbox pattern")
        return decode_mailbox(raw, utf8=self.utf8, pattern=True)

    def flag(self) -> str:
        """``flag``: ``\\Answered``... or a keyword atom; system flags get their canonical case."""
        if self.take(b"\\"):
            name = "\\" + self.atom("a flag name")
            return _SYSTEM_FLAGS.get(name.upper(), name)
        return self.atom("a flag")

    def flag_list(self) -> tuple[str, ...]:
        return tuple(self.paren_list(self.flag))

    def paren_list(self, item: Callable[[], T], *, allow_empty: bool = True) -> list[T]:
        """``"(" [item *(SP item)] ")"``."""
        self.expect(b"(")
        self.enter()
        items: list[T] = []
        if not self.take(b")"):
            items.append(item())
            while not self.take(b")"):
                self.sp()
                items.append(item())
        elif not allow_empty:
            raise ParseError("Empty list")
        self.leave()
        return items

    def date(self) -> date:
        """``date`` = date-text / DQUOTE date-text DQUOTE (``1-Feb-1994``)."""
        quoted = self.take(b'"')
        raw = self._match(_DATE)
        if raw is None or (quoted and not self.take(b'"')):
            raise ParseError("Expected a date such as 1-Feb-1994")
        match = _DATE.fullmatch(raw)
        assert match is not None
        month = _MONTHS.get(match.group(2).decode("ascii").upper())
        try:
            if month is None:
                raise ValueError("month")
            return date(int(match.group(3)), month, int(match.group(1)))
        except ValueError:
            raise ParseError("Invalid date") from None

    def date_time(self) -> datetime:
        """``date-time`` (``"17-Jul-1996 02:44:25 -0700"``)."""
        raw = self._match(_DATE_TIME)
        if raw is None:
            raise ParseError('Expected a date-time such as "17-Jul-1996 02:44:25 -0700"')
        match = _DATE_TIME.fullmatch(raw)
        assert match is not None
        day, mon, year, hh, mm, ss, sign, zh, zm = (g.decode("ascii") for g in match.groups())
        month = _MONTHS.get(mon.upper())
        try:
            if month is None or int(zm) > 59:
                raise ValueError("zone")
            offset = timedelta(hours=int(zh), minutes=int(zm)) * (-1 if sign == "-" else 1)
            return datetime(int(year), month, int(day), int(hh), int(mm), int(ss), tzinfo=timezone(offset))
        except ValueError:
            raise ParseError("Invalid date-time") from None


_SYSTEM_FLAGS = {f.upper(): f for f in ("\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft", "\\Recent")}


def _noun(what: str) -> str:
    return what.removeprefix("a ").removeprefix("an ")


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ParseError("Invalid UTF-8 in string") from None


def decode_mailbox(raw: bytes, *, utf8: bool, pattern: bool = False) -> str:
    """A mailbox name as Unicode: UTF-8 in UTF-8 mode, else modified UTF-7 (RFC 3501 5.1.3)."""
    if utf8:
        name = _text(raw)
        if any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in name):
            raise ParseError("Control characters in mailbox name")
    else:
        if not raw.isascii():
            raise ParseError("Mailbox name is not modified UTF-7 (8-bit characters need ENABLE UTF8=ACCEPT)")
        try:
            name = mutf7.decode(raw.decode("ascii"))
        except mutf7.InvalidModifiedUtf7 as error:
            raise ParseError(f"Mailbox name is not valid modified UTF-7: {error}") from None
    if not pattern and name.upper() == "INBOX":
        return "INBOX"
    return name
