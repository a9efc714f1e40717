"""ESMTP parameters of MAIL FROM and RCPT TO, parsed into typed values.

    esmtp-param   = esmtp-keyword ["=" esmtp-value]          (RFC 5321 section 4.1.2)
    MAIL: SIZE (RFC 1870), BODY (RFC 6152), SMTPUTF8 (RFC 6531), RET and ENVID
          (RFC 3461), AUTH (RFC 4954 section 5)
    RCPT: NOTIFY and ORCPT (RFC 3461)

An unknown keyword is refused with 555 5.5.4 (RFC 5321 section 4.1.1.11); a
known keyword with a bad or repeated value with 501 5.5.4.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import TypeVar

from . import replies
from .errors import RemoteProtocolError

_KEYWORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*")
# esmtp-value = 1*(%d33-60 / %d62-126), and UTF8-non-ascii under RFC 6531 section 3.3.
_VALUE = re.compile(r"[\x21-\x3c\x3e-\x7e\u0080-\U0010ffff]+")
_SIZE = re.compile(r"[0-9]{1,20}")  # RFC 1870 section 6: size-value ::= 1*20DIGIT
_XTEXT_HEX = re.compile(r"\+([0-9A-F]{2})")
_UNITEXT_ESCAPE = re.compile(r"\\x\{([0-9A-Fa-f]{1,6})\}")
MAX_ENVID = 100  # RFC 3461 section 4.4
MAX_ORCPT = 500  # RFC 3461 section 4.2

_E = TypeVar("_E", bound=enum.StrEnum)


class BodyType(enum.StrEnum):
    """BODY= of MAIL (RFC 6152 section 2); BINARYMIME (RFC 3030) is not offered."""

    SEVEN_BIT = "7BIT"
    EIGHT_BIT_MIME = "8BITMIME"


class DsnReturn(enum.StrEnum):
    """RET= of MAIL (RFC 3461 section 4.3)."""

    FULL = "FULL"
    HEADERS = "HDRS"


class DsnNotify(enum.StrEnum):
    """NOTIFY= of RCPT (RFC 3461 section 4.1)."""

    NEVER = "NEVER"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    DELAY = "DELAY"


@dataclass(frozen=True, slots=True)
class MailParameters:
    size: int | None = None
    body: BodyType | None = None
    smtputf8: bool = False
    ret: DsnReturn | None = None
    #: ENVID, xtext-decoded.
    envid: str | None = None
    #: AUTH=, xtext-decoded: the mailbox that submitted the message, or "<>" for unknown.
    auth: str | None = None


@dataclass(frozen=True, slots=True)
class OriginalRecipient:
    """ORCPT=addr-type;xtext (RFC 3461 section 4.2; "utf-8" type per RFC 6533 section 3)."""

    address_type: str
    address: str


@dataclass(frozen=True, slots=True)
class RcptParameters:
    notify: frozenset[DsnNotify] | None = None
    orcpt: OriginalRecipient | None = None


def parse_mail_parameters(text: str, *, auth_offered: bool) -> MailParameters:
    size: int | None = None
    body: BodyType | None = None
    smtputf8 = False
    ret: DsnReturn | None = None
    envid: str | None = None
    auth: str | None = None
    for keyword, value in _unique(split_parameters(text)):
        if keyword == "SIZE":
            size = _parse_size(value)
        elif keyword == "BODY":
            body = _parse_enum(BodyType, keyword, value)
        elif keyword == "SMTPUTF8":
            if value is not None:  # RFC 6531 section 3.4: the keyword takes no value
                raise RemoteProtocolError(replies.invalid_arguments("SMTPUTF8 takes no value"))
            smtputf8 = True
        elif keyword == "RET":
            ret = _parse_enum(DsnReturn, keyword, value)
        elif keyword == "ENVID":
            envid = decode_xtext(_required(keyword, value))
            if len(envid) > MAX_ENVID:
                raise RemoteProtocolError(replies.invalid_arguments("ENVID too long"))
        elif keyword == "AUTH" and auth_offered:
            auth = decode_xtext(_required(keyword, value))
        else:
            raise RemoteProtocolError(replies.parameter_unrecognized(keyword))
    return MailParameters(size=size, body=body, smtputf8=smtputf8, ret=ret, envid=envid, auth=auth)


def parse_rcpt_parameters(text: str) -> RcptParameters:
    notify: frozenset[DsnNotify] | None = None
    orcpt: OriginalRecipient | None = None
    for keyword, value in _unique(split_parameters(text)):
        if keyword == "NOTIFY":
            notify = _parse_notify(_required(keyword, value))
        elif keyword == "ORCPT":
            orcpt = _parse_orcpt(_required(keyword, value))
        else:
            raise RemoteProtocolError(replies.parameter_unrecognized(keyword))
    return RcptParameters(notify=notify, orcpt=orcpt)


def split_parameters(text: str) -> list[tuple[str, str | None]]:
    """Split ``KEY=value KEY2`` into upper-cased keywords and raw values."""
    result: list[tuple[str, str | None]] = []
    for item in text.split():
        keyword, equals, value = item.partition("=")
        if not _KEYWORD.fullmatch(keyword):
            raise RemoteProtocolError(replies.invalid_arguments(f"Invalid parameter {item!r}"))
        if equals and not _VALUE.fullmatch(value):
            raise RemoteProtocolError(replies.invalid_arguments(f"Invalid value for {keyword.upper()}"))
        result.append((keyword.upper(), value if equals else None))
    return result


def decode_xtext(text: str) -> str:
    """Decode RFC 3461 section 4 xtext: "+" and two upper-case hex digits stand for one octet."""
    if "=" in text or any(not 0x21 <= ord(char) <= 0x7E for char in text):
        raise RemoteProtocolError(replies.invalid_arguments("Invalid xtext"))
    if "+" in _XTEXT_HEX.sub("", text):
        raise RemoteProtocolError(replies.invalid_arguments("Invalid xtext"))
    raw = _XTEXT_HEX.sub(lambda match: chr(int(match.group(1), 16)), text).encode("latin-1")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise RemoteProtocolError(replies.invalid_arguments("Invalid xtext")) from None


def _unique(parameters: list[tuple[str, str | None]]) -> list[tuple[str, str | None]]:
    keywords = [keyword for keyword, _ in parameters]
    for keyword in keywords:
        if keywords.count(keyword) > 1:
            raise RemoteProtocolError(replies.invalid_arguments(f"Duplicate parameter {keyword}"))
    return parameters


def _required(keyword: str, value: str | None) -> str:
    if value is None:
        raise RemoteProtocolError(replies.invalid_arguments(f"{keyword} requires a value"))
    return value


def _parse_size(value: str | None) -> int:
    if value is None or not _SIZE.fullmatch(value):
        raise RemoteProtocolError(replies.invalid_arguments("Invalid SIZE"))
    return int(value)


def _parse_enum(kind: type[_E], keyword: str, value: str | None) -> _E:
    try:
        return kind(_required(keyword, value).upper())
    except ValueError:
        raise RemoteProtocolError(replies.invalid_arguments(f"Invalid {keyword} value")) from None


def _parse_notify(value: str) -> frozenset[DsnNotify]:
    """``NEVER`` alone, or a list of SUCCESS, FAILURE, DELAY (RFC 3461 section 4.1)."""
    try:
        items = [DsnNotify(item.upper()) for item in value.split(",")]
    except ValueError:
        raise RemoteProtocolError(replies.invalid_arguments("Invalid NOTIFY value")) from None
    if len(set(items)) != len(items) or (DsnNotify.NEVER in items and len(items) > 1):
        raise RemoteProtocolError(replies.invalid_arguments("Invalid NOTIFY value"))
    return frozenset(items)


def _parse_orcpt(value: str) -> OriginalRecipient:
    address_type, semicolon, encoded = value.partition(";")
    if not semicolon or not _KEYWORD.fullmatch(address_type) or not encoded or len(value) > MAX_ORCPT:
        raise RemoteProtocolError(replies.invalid_arguments("Invalid ORCPT value"))
    if address_type.lower() == "utf-8":
        # RFC 6533 section 3: utf-8-addr-xtext / utf-8-addr-unitext use \x{HEX} escapes.
        try:
            decoded = _UNITEXT_ESCAPE.sub(lambda match: chr(int(match.group(1), 16)), encoded)
        except (ValueError, OverflowError):
            raise RemoteProtocolError(replies.invalid_arguments("Invalid ORCPT value")) from None
        return OriginalRecipient("utf-8", decoded)
    return OriginalRecipient(address_type.lower(), decode_xtext(encoded))
