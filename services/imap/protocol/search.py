"""SEARCH criteria (RFC 9051 section 6.4.4, RFC 3501 section 6.4.4) into a ``SearchKey`` tree.

Several keys in a row are an implicit AND; ``(...)`` groups; ``OR a b`` and
``NOT a`` nest. Depth is counted for all three, so ``NOT NOT NOT ...`` is
bounded the same way parentheses are. RFC 7162 adds ``MODSEQ``, RFC 5032
``OLDER``/``YOUNGER``; RFC 3501's ``NEW``, ``OLD``, ``RECENT`` are accepted for
IMAP4rev1 clients (the service treats ``\\Recent`` as never set).
"""

from __future__ import annotations

from .commands import SearchKey
from .errors import ParseError
from .tokens import Cursor

_FLAG_KEYS = frozenset(
    "ALL ANSWERED DELETED DRAFT FLAGGED NEW OLD RECENT SEEN UNANSWERED UNDELETED UNDRAFT UNFLAGGED UNSEEN".split()
)
_TEXT_KEYS = frozenset("BCC BODY CC FROM SUBJECT TEXT TO".split())
_DATE_KEYS = frozenset("BEFORE ON SINCE SENTBEFORE SENTON SENTSINCE".split())
_SIZE_KEYS = frozenset("LARGER SMALLER".split())
_INTERVAL_KEYS = frozenset("OLDER YOUNGER".split())
_ENTRY_TYPES = ("priv", "shared", "all")
_KEYS_WITH_ARGUMENTS = (
    _TEXT_KEYS | _DATE_KEYS | _SIZE_KEYS | _INTERVAL_KEYS
    | {"KEYWORD", "UNKEYWORD", "HEADER", "UID", "NOT", "OR", "MODSEQ"}
)  # fmt: skip


def parse_criteria(cursor: Cursor) -> SearchKey:
    """``search-key *(SP search-key)`` to the end of the command (or a closing parenthesis)."""
    keys = [parse_key(cursor)]
    while cursor.take(b" "):
        keys.append(parse_key(cursor))
    return keys[0] if len(keys) == 1 else SearchKey("and", keys=tuple(keys))


def parse_key(cursor: Cursor) -> SearchKey:
    cursor.enter()
    try:
        return _key(cursor)
    finally:
        cursor.leave()


def _key(cursor: Cursor) -> SearchKey:
    if cursor.peek() == ord("("):
        cursor.expect(b"(")
        group = parse_criteria(cursor)
        cursor.expect(b")", "')' to close the search group")
        return group if group.op == "and" else SearchKey("and", keys=(group,))
    char = cursor.peek()
    if char is not None and (0x30 <= char <= 0x39 or char in b"*$"):
        return SearchKey("seqset", cursor.sequence_set())
    name = cursor.keyword()
    op = name.lower()
    if name in _FLAG_KEYS:
        return SearchKey(op)
    if name not in _KEYS_WITH_ARGUMENTS:
        raise ParseError(f"Unknown search key {name}")
    cursor.sp()
    if name in _TEXT_KEYS:
        return SearchKey(op, cursor.astring())
    if name in _DATE_KEYS:
        return SearchKey(op, cursor.date())
    if name in _SIZE_KEYS:
        return SearchKey(op, cursor.number64(f"a size for {name}"))
    if name in _INTERVAL_KEYS:
        return SearchKey(op, cursor.number(f"seconds for {name}", nonzero=True))
    if name in ("KEYWORD", "UNKEYWORD"):
        return SearchKey(op, cursor.flag())
    if name == "HEADER":
        field = cursor.astring()
        cursor.sp()
        return SearchKey(op, cursor.astring(), field=field)
    if name == "UID":
        return SearchKey(op, cursor.sequence_set())
    if name == "NOT":
        return SearchKey(op, keys=(parse_key(cursor),))
    if name == "OR":
        first = parse_key(cursor)
        cursor.sp()
        return SearchKey(op, keys=(first, parse_key(cursor)))
    if name == "MODSEQ":
        return _modseq(cursor)
    raise ParseError(f"Unknown search key {name}")


def _modseq(cursor: Cursor) -> SearchKey:
    """``MODSEQ [SP entry-name SP entry-type-req] SP mod-sequence-valzer`` (RFC 7162 section 3.1.5)."""
    if cursor.peek() == ord('"'):
        entry = cursor.string()
        cursor.sp()
        entry_type = cursor.keyword().lower()
        if entry_type not in _ENTRY_TYPES:
            raise ParseError("MODSEQ entry type must be priv, shared or all")
        cursor.sp()
        return SearchKey("modseq", cursor.number64("a mod-sequence"), field=entry, entry_type=entry_type)
    return SearchKey("modseq", cursor.number64("a mod-sequence"))


def uses_modseq(key: SearchKey) -> bool:
    """Whether the criteria mention MODSEQ (which enables CONDSTORE, RFC 7162 section 3.1)."""
    stack = [key]
    while stack:
        item = stack.pop()
        if item.op == "modseq":
            return True
        stack.extend(item.keys)
    return False
