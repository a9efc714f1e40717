"""Paths of MAIL FROM and RCPT TO: the RFC 5321 section 4.1.2 grammar, with RFC 6531 UTF-8.

    Path          = "<" [ A-d-l ":" ] Mailbox ">"
    A-d-l         = At-domain *( "," At-domain )      ; source route, parsed and ignored
    Mailbox       = Local-part "@" ( Domain / address-literal )
    Local-part    = Dot-string / Quoted-string

The parser is a small scanner over the decoded command argument. It returns
the address and the rest of the line (where ESMTP parameters start). It always
accepts UTF-8 while scanning and refuses non-ASCII afterwards when SMTPUTF8 was
not given, so that error gets its own reply (553 5.6.7, RFC 6531 section 3.5).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

_UTF8 = "\u0080-\U0010ffff"  # RFC 6531 section 3.3: UTF8-non-ascii joins atext, qtext and sub-domain
_ATEXT = r"A-Za-z0-9!#$%&'*+/=?^_`{|}~\-" + _UTF8  # RFC 5322 section 3.2.3
_DOT_STRING = re.compile(rf"[{_ATEXT}]+(?:\.[{_ATEXT}]+)*")
_LET_DIG = "A-Za-z0-9" + _UTF8
_SUB_DOMAIN = rf"[{_LET_DIG}](?:[{_LET_DIG}-]*[{_LET_DIG}])?"
_DOMAIN = re.compile(rf"{_SUB_DOMAIN}(?:\.{_SUB_DOMAIN})*")
# RFC 5321 section 4.1.3: dcontent = %d33-90 / %d94-126
_ADDRESS_LITERAL = re.compile(r"\[[\x21-\x5a\x5e-\x7e]*\]")
_IPV4 = re.compile(r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}")
_GENERAL_TAG = re.compile(r"[A-Za-z0-9-]*[A-Za-z0-9]:[\x21-\x5a\x5e-\x7e]+")
_POSTMASTER = re.compile(r"<postmaster>", re.IGNORECASE)

# RFC 5321 section 4.5.3.1: sizes in octets.
MAX_LOCAL_PART = 64
MAX_DOMAIN = 255
MAX_PATH = 256
MAX_LABEL = 63  # RFC 1035 section 2.3.4


class AddressError(ValueError):
    """The path does not follow the RFC 5321 grammar (or is longer than it allows)."""


class NonAsciiAddressError(AddressError):
    """A non-ASCII address without the SMTPUTF8 parameter (RFC 6531 section 3.5)."""


@dataclass(frozen=True, slots=True)
class Address:
    """A mailbox as the client sent it, minus quoting and source route.

    ``local_part`` is the unquoted value (``john smith`` for ``"john smith"@x``);
    ``domain`` is a domain name or an address literal with its brackets, and
    ``None`` only for the special recipient ``<Postmaster>`` (RFC 5321 section 4.1.1.3).
    """

    local_part: str
    domain: str | None

    @property
    def text(self) -> str:
        """The mailbox in SMTP syntax, quoting the local part only when needed."""
        local = self.local_part if _DOT_STRING.fullmatch(self.local_part) else _quote(self.local_part)
        return local if self.domain is None else f"{local}@{self.domain}"

    @property
    def is_address_literal(self) -> bool:
        return self.domain is not None and self.domain.startswith("[")

    @property
    def is_utf8(self) -> bool:
        return not (self.local_part.isascii() and (self.domain or "").isascii())

    @property
    def is_postmaster(self) -> bool:
        """``<Postmaster>`` without a domain, which every server must accept (RFC 5321 4.5.1)."""
        return self.domain is None

    def __str__(self) -> str:
        return self.text


def parse_reverse_path(text: str, *, utf8: bool) -> tuple[Address | None, str]:
    """Parse ``Reverse-path = Path / "<>"``; ``None`` is the null path of bounces."""
    if text.startswith("<>"):
        return None, text[2:]
    return _parse_path(text, utf8=utf8)


def parse_forward_path(text: str, *, utf8: bool) -> tuple[Address, str]:
    """Parse ``"<Postmaster>" / Forward-path`` of RCPT TO (RFC 5321 section 4.1.1.3)."""
    match = _POSTMASTER.match(text)
    if match:
        return Address(text[1 : match.end() - 1], None), text[match.end() :]
    return _parse_path(text, utf8=utf8)


def _parse_path(text: str, *, utf8: bool) -> tuple[Address, str]:
    if not text.startswith("<"):
        raise AddressError("Address must be enclosed in <>")
    position = _skip_source_route(text, 1)
    local_part, position = _scan_local_part(text, position)
    if not text.startswith("@", position):
        raise AddressError("Address must contain @domain")
    domain, position = _scan_domain_or_literal(text, position + 1)
    if not text.startswith(">", position):
        raise AddressError("Address must end with >")
    path = text[: position + 1]
    if len(path.encode()) > MAX_PATH:
        raise AddressError("Path too long")
    if len(local_part.encode()) > MAX_LOCAL_PART:
        raise AddressError("Local part too long")
    address = Address(local_part, domain)
    if address.is_utf8 and not utf8:
        raise NonAsciiAddressError("Non-ASCII address requires SMTPUTF8")
    return address, text[position + 1 :]


def _skip_source_route(text: str, position: int) -> int:
    """Skip ``@one.example,@two.example:``; RFC 5321 section 4.1.1.3 says to ignore it."""
    if not text.startswith("@", position):
        return position
    while True:
        match = _DOMAIN.match(text, position + 1)
        if not match:
            raise AddressError("Invalid source route")
        position = match.end()
        if text.startswith(",@", position):
            position += 1
            continue
        if text.startswith(":", position):
            return position + 1
        raise AddressError("Invalid source route")


def _scan_local_part(text: str, position: int) -> tuple[str, int]:
    if text.startswith('"', position):
        return _scan_quoted_string(text, position + 1)
    match = _DOT_STRING.match(text, position)
    if not match:
        raise AddressError("Invalid local part")
    return match.group(), match.end()


def _scan_quoted_string(text: str, position: int) -> tuple[str, int]:
    """``Quoted-string = DQUOTE *QcontentSMTP DQUOTE`` (RFC 5321 section 4.1.2)."""
    chars: list[str] = []
    while position < len(text):
        char = text[position]
        if char == '"':
            return "".join(chars), position + 1
        if char == "\\":
            # quoted-pairSMTP = %d92 %d32-126
            escaped = text[position + 1 : position + 2]
            if not escaped or not _is_quotable(escaped):
                raise AddressError("Invalid quoted pair in local part")
            chars.append(escaped)
            position += 2
            continue
        # qtextSMTP = %d32-33 / %d35-91 / %d93-126 (and UTF8-non-ascii)
        if not _is_quotable(char):
            raise AddressError("Invalid character in quoted local part")
        chars.append(char)
        position += 1
    raise AddressError("Unterminated quoted local part")


def _is_quotable(char: str) -> bool:
    return 32 <= ord(char) <= 126 or ord(char) >= 0x80


def _scan_domain_or_literal(text: str, position: int) -> tuple[str, int]:
    if text.startswith("[", position):
        match = _ADDRESS_LITERAL.match(text, position)
        if not match or not _is_valid_literal(match.group()[1:-1]):
            raise AddressError("Invalid address literal")
        return match.group(), match.end()
    match = _DOMAIN.match(text, position)
    if not match:
        raise AddressError("Invalid domain")
    domain = match.group()
    if len(domain.encode()) > MAX_DOMAIN or any(len(label) > MAX_LABEL for label in domain.split(".")):
        raise AddressError("Domain too long")
    return domain, match.end()


def _is_valid_literal(content: str) -> bool:
    """``IPv4-address-literal / IPv6-address-literal / General-address-literal`` (section 4.1.3)."""
    if _IPV4.fullmatch(content):
        return all(int(part) <= 255 for part in content.split("."))
    if content[:5].lower() == "ipv6:":
        candidate = content[5:]
        if "%" in candidate:  # zone identifiers are not part of the grammar
            return False
        try:
            ipaddress.IPv6Address(candidate)
        except ValueError:
            return False
        return True
    return bool(_GENERAL_TAG.fullmatch(content))


def _quote(local_part: str) -> str:
    return '"' + local_part.replace("\\", "\\\\").replace('"', '\\"') + '"'
