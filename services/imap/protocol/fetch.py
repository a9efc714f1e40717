"""FETCH items and modifiers (RFC 9051 section 6.4.5, RFC 3516 BINARY, RFC 7162 CONDSTORE).

Macros expand as RFC 9051 section 6.4.5 says: ALL = FLAGS INTERNALDATE
RFC822.SIZE ENVELOPE, FAST = FLAGS INTERNALDATE RFC822.SIZE, FULL = ALL + BODY.
"""

from __future__ import annotations

from .commands import FetchAttribute, Section
from .errors import ParseError
from .tokens import Cursor

_SIMPLE = frozenset(
    "ENVELOPE FLAGS INTERNALDATE RFC822 RFC822.HEADER RFC822.SIZE RFC822.TEXT UID BODYSTRUCTURE MODSEQ".split()
)
_MACROS = {
    "ALL": ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"),
    "FAST": ("FLAGS", "INTERNALDATE", "RFC822.SIZE"),
    "FULL": ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"),
}
_SECTION_TEXT = ("HEADER.FIELDS.NOT", "HEADER.FIELDS", "HEADER", "TEXT", "MIME")


def parse_items(cursor: Cursor) -> tuple[tuple[FetchAttribute, ...], str | None]:
    """``"ALL" / "FULL" / "FAST" / fetch-att / "(" fetch-att *(SP fetch-att) ")"``."""
    if cursor.peek() == ord("("):
        return tuple(cursor.paren_list(lambda: parse_attribute(cursor), allow_empty=False)), None
    for macro, names in _MACROS.items():
        if _take_word(cursor, macro):
            return tuple(FetchAttribute(name) for name in names), macro
    return (parse_attribute(cursor),), None


def _take_word(cursor: Cursor, word: str) -> bool:
    # A macro is a whole word: "ALL" but not the start of "ALLX".
    if not cursor.startswith(word.encode()):
        return False
    segment_after = cursor._segment[cursor._pos + len(word) : cursor._pos + len(word) + 1]  # noqa: SLF001
    if segment_after not in (b"", b" ", b")"):
        return False
    cursor.take(word.encode())
    return True


def parse_attribute(cursor: Cursor) -> FetchAttribute:
    name = _item_name(cursor)
    if name in _SIMPLE or name == "BODY" and cursor.peek() != ord("["):
        return FetchAttribute(name)
    if name in ("BODY", "BODY.PEEK", "BINARY", "BINARY.PEEK", "BINARY.SIZE"):
        peek = name.endswith(".PEEK")
        base = name.removesuffix(".PEEK")
        binary = base.startswith("BINARY")
        section = _section(cursor, binary=binary)
        partial = None
        if cursor.peek() == ord("<"):
            if name == "BINARY.SIZE":
                raise ParseError("BINARY.SIZE takes no partial range")
            partial = _partial(cursor)
        return FetchAttribute(base, section, partial, peek=peek)
    raise ParseError(f"Unknown FETCH item {name}")


def _item_name(cursor: Cursor) -> str:
    # Item names are atoms, but "[" ends one (BODY[...]); read letters, digits, "." and "822".
    start = cursor._pos  # noqa: SLF001
    segment = cursor._segment  # noqa: SLF001
    end = start
    while end < len(segment) and (chr(segment[end]).isalnum() or segment[end] == ord(".")):
        end += 1
    if end == start:
        raise ParseError("Expected a FETCH item")
    cursor._pos = end  # noqa: SLF001
    return segment[start:end].decode("ascii").upper()


def _section(cursor: Cursor, *, binary: bool) -> Section:
    cursor.expect(b"[", "'[' to open a section")
    parts: list[int] = []
    while cursor.peek() is not None and 0x30 <= (cursor.peek() or 0) <= 0x39:
        parts.append(cursor.number("a part number", nonzero=True))
        if not cursor.take(b"."):
            break
    text: str | None = None
    fields: tuple[str, ...] = ()
    if binary:
        if cursor.peek() != ord("]"):
            raise ParseError("BINARY sections are part numbers only")
    elif cursor.peek() != ord("]"):
        for candidate in _SECTION_TEXT:
            if cursor.take(candidate.encode()):
                text = candidate
                break
        else:
            raise ParseError("Expected HEADER, HEADER.FIELDS, HEADER.FIELDS.NOT, TEXT or MIME")
        if text == "MIME" and not parts:
            raise ParseError("MIME needs a part number")
        if text.startswith("HEADER.FIELDS"):
            cursor.sp()
            fields = tuple(cursor.paren_list(lambda: cursor.astring().upper(), allow_empty=False))
    elif parts and cursor._segment[cursor._pos - 1 : cursor._pos] == b".":  # noqa: SLF001
        raise ParseError("Section ends with '.'")
    cursor.expect(b"]", "']' to close the section")
    return Section(tuple(parts), text, fields)


def _partial(cursor: Cursor) -> tuple[int, int]:
    cursor.expect(b"<")
    start = cursor.number("a partial start")
    cursor.expect(b".", "'.' and a length in the partial range")
    length = cursor.number("a partial length", nonzero=True)
    cursor.expect(b">")
    return (start, length)
