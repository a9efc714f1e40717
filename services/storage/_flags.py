"""IMAP flags as stored: five system flags as columns, keywords as a space-separated list.

System flags are case-insensitive and come back in their canonical spelling;
keywords are atoms (RFC 9051 `flag-keyword`), compared case-insensitively
and kept in the spelling first used. `\\Recent` is a per-session notion of
IMAP4rev1 and is not stored.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from libs.contracts.errors import BadRequest

SYSTEM_COLUMNS = {
    "\\seen": "seen",
    "\\answered": "answered",
    "\\flagged": "flagged",
    "\\deleted": "deleted",
    "\\draft": "draft",
}
CANONICAL = {
    "seen": "\\Seen",
    "answered": "\\Answered",
    "flagged": "\\Flagged",
    "deleted": "\\Deleted",
    "draft": "\\Draft",
}
_ATOM_SPECIALS = set('(){ %*"\\]')
MAX_KEYWORD = 128
MAX_KEYWORDS = 100


@dataclass(frozen=True)
class FlagSet:
    system: frozenset[str]  # column names: seen, answered, ...
    keywords: tuple[str, ...]

    def as_list(self) -> list[str]:
        return [CANONICAL[c] for c in CANONICAL if c in self.system] + list(self.keywords)


def parse_flags(flags: Iterable[str]) -> FlagSet:
    system: set[str] = set()
    keywords: dict[str, str] = {}
    for flag in flags:
        lowered = flag.lower()
        if lowered in SYSTEM_COLUMNS:
            system.add(SYSTEM_COLUMNS[lowered])
        elif lowered == "\\recent":
            continue
        else:
            check_keyword(flag)
            keywords.setdefault(lowered, flag)
    if len(keywords) > MAX_KEYWORDS:
        raise BadRequest(f"more than {MAX_KEYWORDS} keywords on one message")
    return FlagSet(frozenset(system), tuple(keywords.values()))


def check_keyword(flag: str) -> None:
    if not flag or len(flag) > MAX_KEYWORD:
        raise BadRequest(f"invalid flag {flag[:40]!r}: empty or longer than {MAX_KEYWORD}")
    if flag.startswith("\\"):
        raise BadRequest(f"unknown system flag {flag[:40]!r}")
    for ch in flag:
        if ord(ch) <= 0x20 or ord(ch) >= 0x7F or ch in _ATOM_SPECIALS:
            raise BadRequest(f"invalid flag {flag[:40]!r}: keywords are atoms")


def stored_keywords(text: str) -> tuple[str, ...]:
    return tuple(text.split()) if text else ()


def apply(current: FlagSet, change: FlagSet, mode: str) -> FlagSet:
    """The flags after STORE FLAGS / +FLAGS / -FLAGS."""
    if mode == "replace":
        return change
    if mode == "add":
        keywords = dict((k.lower(), k) for k in current.keywords)
        for k in change.keywords:
            keywords.setdefault(k.lower(), k)
        return FlagSet(current.system | change.system, tuple(keywords.values()))
    removed = {k.lower() for k in change.keywords}
    return FlagSet(current.system - change.system, tuple(k for k in current.keywords if k.lower() not in removed))
