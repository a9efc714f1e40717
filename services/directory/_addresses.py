"""Parsing and canonical form of e-mail style addresses (RFC 5321, RFC 6531).

Canonical form: the local part lower-cased and NFC-normalised, the domain in
Unicode (IDNA 2008 with UTS #46 mapping), lower case, no trailing dot. Both
`Alice@EXAMPLE.test` and `alice@xn--exmple-cua.test` style spellings reach
the same account. Quoted local parts are not accepted for names we store.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import idna

MAX_LOCAL_OCTETS = 64  # RFC 5321 section 4.5.3.1.1
MAX_DOMAIN_OCTETS = 253  # RFC 1035 (255 minus the root's length octets)
_ATEXT_SPECIALS = set("!#$%&'*+-/=?^_`{|}~")


class InvalidAddress(ValueError):
    """The text is not a usable address; the message says why."""


@dataclass(frozen=True, order=True)
class Address:
    local: str
    domain: str

    @property
    def text(self) -> str:
        return f"{self.local}@{self.domain}"

    def __str__(self) -> str:
        return self.text

    def without_subaddress(self) -> Address | None:
        """`alice+lists@d` -> `alice@d` (RFC 5233 style sub-addressing), or None."""
        base, plus, _tag = self.local.partition("+")
        return Address(base, self.domain) if plus and base else None


@lru_cache(maxsize=4096)
def normalize_domain(text: str) -> str:
    """Canonical Unicode form of a domain name; raise InvalidAddress when it is not one.

    Remembered for the last few thousand names: IDNA processing costs more than the
    rest of a directory lookup, and a server sees the same few domains over and over
    (a name that fails is not remembered, so junk cannot push good names out)."""
    name = text.strip().rstrip(".")
    if not name:
        raise InvalidAddress("empty domain")
    if name.startswith("[") or any(c.isspace() for c in name):
        raise InvalidAddress("address literals and spaces are not domain names")
    try:
        ace = idna.encode(name, uts46=True).decode("ascii")
        unicode_name = idna.decode(ace)
    except (idna.IDNAError, UnicodeError) as exc:
        raise InvalidAddress(f"invalid domain {name[:80]!r}: {exc}") from None
    if len(ace) > MAX_DOMAIN_OCTETS:
        raise InvalidAddress("domain longer than 253 octets")
    if "." not in ace:
        raise InvalidAddress("a domain needs at least two labels (like example.com)")
    return unicode_name.lower()


def domain_ace(domain: str) -> str:
    """The ASCII (xn--) form, for DNS and for protocols that need ASCII."""
    return idna.encode(domain, uts46=True).decode("ascii")


def normalize_local(text: str) -> str:
    local = unicodedata.normalize("NFC", text).lower()
    if not local:
        raise InvalidAddress("empty local part")
    if len(local.encode()) > MAX_LOCAL_OCTETS:
        raise InvalidAddress("local part longer than 64 octets")
    if local.startswith(".") or local.endswith(".") or ".." in local:
        raise InvalidAddress("dots may not start, end or repeat in a local part")
    for ch in local:
        if not _is_atext(ch) and ch != ".":
            raise InvalidAddress(f"character {ch!r} is not allowed in a local part")
    return local


def _is_atext(ch: str) -> bool:
    # RFC 5322 atext, extended by RFC 6531 to any non-ASCII character that is not a control.
    if ch.isascii():
        return ch.isalnum() or ch in _ATEXT_SPECIALS
    return unicodedata.category(ch)[0] not in ("C", "Z")


@lru_cache(maxsize=16384)
def parse_address(text: str) -> Address:
    """Parse `local@domain` (optionally inside `<...>`) into its canonical form.

    Remembered for recent texts (Address is immutable): resolving a group parses every
    member's address, and the same members, aliases and logins come back again and again."""
    raw = text.strip()
    if raw.startswith("<") and raw.endswith(">"):
        raw = raw[1:-1].strip()
    local, at, domain = raw.rpartition("@")
    if not at:
        raise InvalidAddress("an address needs an @ and a domain")
    if local.startswith('"'):
        raise InvalidAddress("quoted local parts are not supported")
    return Address(normalize_local(local), normalize_domain(domain))


def canonical(text: str) -> str:
    return parse_address(text).text
