"""Mailbox names: validation and canonical form.

Names are UTF-8 with `/` as the hierarchy separator. `INBOX` is
case-insensitive (RFC 9051 section 5.1) and always spelled `INBOX`. Refused,
with a clear message: control characters, empty levels (`a//b`, leading or
trailing `/`), the path-like levels `.` and `..`, IMAP wildcards `*` and `%`
(they could never be matched literally by LIST), and names over 1,024 bytes.
"""

from __future__ import annotations

import unicodedata

from libs.contracts.errors import InvalidName

SEPARATOR = "/"
MAX_NAME_BYTES = 1024
MAX_DEPTH = 32


def canonical_name(name: str) -> str:
    text = unicodedata.normalize("NFC", name)
    if not text:
        raise InvalidName("invalid_name: empty mailbox name")
    if len(text.encode()) > MAX_NAME_BYTES:
        raise InvalidName(f"invalid_name: mailbox name longer than {MAX_NAME_BYTES} bytes")
    for ch in text:
        if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn") or ch in "\u2028\u2029":
            raise InvalidName(f"invalid_name: character U+{ord(ch):04X} is not allowed in a mailbox name")
        if ch in "*%":
            raise InvalidName("invalid_name: * and % are wildcards, not name characters")
    levels = text.split(SEPARATOR)
    if len(levels) > MAX_DEPTH:
        raise InvalidName(f"invalid_name: more than {MAX_DEPTH} levels")
    for level in levels:
        if level == "":
            raise InvalidName("invalid_name: empty level (leading, trailing or double /)")
        if level in (".", ".."):
            raise InvalidName("invalid_name: . and .. are not mailbox names")
        if level != level.strip():
            raise InvalidName("invalid_name: a level may not start or end with white space")
    if levels[0].upper() == "INBOX":
        levels[0] = "INBOX"
    return SEPARATOR.join(levels)


def parent_names(name: str) -> list[str]:
    """`a/b/c` -> [`a`, `a/b`]: the levels above a name."""
    levels = name.split(SEPARATOR)
    return [SEPARATOR.join(levels[:i]) for i in range(1, len(levels))]


def is_child(name: str, parent: str) -> bool:
    return name.startswith(parent + SEPARATOR)
