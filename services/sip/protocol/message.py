"""SIP requests and responses: start line, header fields, body; typed accessors; the serializer.

The typed accessors parse a field the first time they are asked and keep the
result on the field, so a field the code replaces is parsed again. The parser
(``parser.parse_message``) has already checked the fields every element
needs (Via, From, To, Call-ID, CSeq, Max-Forwards, Content-Length, Contact,
Route, Record-Route), so on a parsed message those accessors do not raise;
the others (Require, Expires, Authorization ...) raise ``GrammarError`` when
their field is malformed, which the caller answers with 400.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .address import NameAddr, parse_name_addr
from .auth import AuthValue, parse_auth
from .errors import GrammarError, LocalProtocolError
from .grammar import (
    WORD_CHARS,
    WSP,
    Param,
    is_token,
    param_value,
    read_digits,
    read_params,
    read_token,
    split_list,
    text_cache,
)
from .headers import HeaderField, Headers
from .uri import Uri
from .via import Via, parse_via_list

T = TypeVar("T")

#: CSeq sequence numbers are below 2**31 (RFC 3261 section 8.1.1.5).
MAX_CSEQ = 2**31 - 1


@dataclass(frozen=True, slots=True)
class CSeq:
    number: int
    method: str

    def __str__(self) -> str:
        return f"{self.number} {self.method}"


@text_cache
def parse_cseq(text: str) -> CSeq:
    """CSeq = 1*DIGIT LWS Method."""
    number, _, method = text.strip(WSP).partition(" ")
    method = method.strip(WSP)
    if not method or not is_token(method):
        raise GrammarError("Bad CSeq method")
    return CSeq(read_digits(number.strip(WSP), "CSeq number", maximum=MAX_CSEQ), method)


def check_call_id(text: str) -> str:
    """callid = word [ "@" word ]."""
    word, at, host = text.partition("@")
    if not word or (at and not host) or "@" in host:
        raise GrammarError("Bad Call-ID")
    if not WORD_CHARS.issuperset(word) or not WORD_CHARS.issuperset(host):
        raise GrammarError("Bad Call-ID")
    return text


def parse_max_forwards(text: str) -> int:
    return read_digits(text, "Max-Forwards", maximum=255)


def parse_content_length(text: str) -> int:
    return read_digits(text, "Content-Length", maximum=2**31 - 1)


def parse_name_addr_list(text: str) -> list[NameAddr]:
    return [parse_name_addr(item) for item in split_list(text)]


def parse_contacts(text: str) -> list[NameAddr] | None:
    """Contact values; None for the wildcard ``*`` (RFC 3261 section 10.2.2)."""
    if text.strip(WSP) == "*":
        return None
    return parse_name_addr_list(text)


def parse_option_tags(text: str) -> list[str]:
    """Require / Proxy-Require / Supported / Unsupported: comma-separated tokens."""
    if not text.strip(WSP):
        return []  # Supported may be empty (RFC 3261 section 20.37)
    tags = split_list(text)
    for tag in tags:
        if not is_token(tag):
            raise GrammarError("Bad option tag")
    return tags


def parse_delta_seconds(text: str) -> int:
    """delta-seconds: values over 2**32-1 read as 2**32-1 (RFC 3261 section 20.19 and 20.33)."""
    text = text.strip(WSP)
    if not text.isascii() or not text.isdigit():
        raise GrammarError("Bad delta-seconds")
    stripped = text.lstrip("0") or "0"
    return 2**32 - 1 if len(stripped) > 10 else min(int(stripped), 2**32 - 1)


@dataclass(frozen=True, slots=True)
class EventHeader:
    """Event (RFC 6665 section 8.2.1): the package (``presence``, ``reg``, ``message-summary``) and its params."""

    package: str
    params: tuple[Param, ...] = ()

    @property
    def id(self) -> str | None:
        return param_value(self.params, "id")


def parse_event(text: str) -> EventHeader:
    package, i = read_token(text, 0, "event package")
    params, _ = read_params(text, i, "event parameter")
    return EventHeader(package.lower(), tuple(params))


def parse_tokens(text: str) -> list[str]:
    """Allow and similar: comma-separated tokens (methods are case-sensitive and kept as written)."""
    return parse_option_tags(text)


@dataclass(eq=False)
class Message:
    """What requests and responses share: header fields, body, typed accessors."""

    headers: Headers = field(default_factory=Headers)
    body: bytes = b""

    # -- typed access -------------------------------------------------------
    def _typed(self, name: str, parse: Callable[[str], T]) -> list[T]:
        """Parsed values of every ``name`` field (each field parsed once, then cached)."""
        out: list[T] = []
        for f in self.headers.find(name):
            if f.parsed is None:
                f.parsed = parse(f.value)
            out.append(f.parsed)
        return out

    def _single(self, name: str, parse: Callable[[str], T]) -> T | None:
        values = self._typed(name, parse)
        if len(values) > 1:
            raise GrammarError(f"More than one {name} header field")
        return values[0] if values else None

    def _listed(self, name: str, parse: Callable[[str], list[Any]]) -> list[Any]:
        out: list[Any] = []
        for values in self._typed(name, parse):
            out.extend(values)
        return out

    @property
    def vias(self) -> list[Via]:
        return self._listed("Via", parse_via_list)

    @property
    def top_via(self) -> Via | None:
        vias = self.vias
        return vias[0] if vias else None

    @property
    def from_(self) -> NameAddr:
        return self._required("From", parse_name_addr)

    @property
    def to(self) -> NameAddr:
        return self._required("To", parse_name_addr)

    @property
    def call_id(self) -> str:
        return self._required("Call-ID", check_call_id)

    @property
    def cseq(self) -> CSeq:
        return self._required("CSeq", parse_cseq)

    @property
    def max_forwards(self) -> int | None:
        return self._single("Max-Forwards", parse_max_forwards)

    @property
    def content_length(self) -> int | None:
        return self._single("Content-Length", parse_content_length)

    @property
    def content_type(self) -> str | None:
        """The media type, lower case, without parameters (``application/sdp``)."""
        value = self.headers.get("Content-Type")
        return None if value is None else value.split(";")[0].strip(WSP).lower()

    @property
    def contacts(self) -> list[NameAddr]:
        """Contact addresses (empty for none and for the wildcard, see ``contact_wildcard``)."""
        out: list[NameAddr] = []
        for values in self._typed("Contact", parse_contacts):
            out.extend(values or ())
        return out

    @property
    def contact_wildcard(self) -> bool:
        return any(values is None for values in self._typed("Contact", parse_contacts))

    @property
    def routes(self) -> list[NameAddr]:
        return self._listed("Route", parse_name_addr_list)

    @property
    def record_routes(self) -> list[NameAddr]:
        return self._listed("Record-Route", parse_name_addr_list)

    @property
    def require(self) -> list[str]:
        return self._listed("Require", parse_option_tags)

    @property
    def proxy_require(self) -> list[str]:
        return self._listed("Proxy-Require", parse_option_tags)

    @property
    def supported(self) -> list[str]:
        return self._listed("Supported", parse_option_tags)

    @property
    def unsupported(self) -> list[str]:
        return self._listed("Unsupported", parse_option_tags)

    @property
    def allow(self) -> list[str]:
        return self._listed("Allow", parse_tokens)

    @property
    def path(self) -> list[NameAddr]:
        """Path (RFC 3327): the proxies a REGISTER passed that want to stay on the route."""
        return self._listed("Path", parse_name_addr_list)

    @property
    def service_route(self) -> list[NameAddr]:
        return self._listed("Service-Route", parse_name_addr_list)

    @property
    def event(self) -> EventHeader | None:
        return self._single("Event", parse_event)

    @property
    def min_expires(self) -> int | None:
        return self._single("Min-Expires", parse_delta_seconds)

    @property
    def expires(self) -> int | None:
        return self._single("Expires", parse_delta_seconds)

    @property
    def authorization(self) -> list[AuthValue]:
        return self._typed("Authorization", parse_auth)

    @property
    def proxy_authorization(self) -> list[AuthValue]:
        return self._typed("Proxy-Authorization", parse_auth)

    @property
    def www_authenticate(self) -> list[AuthValue]:
        return self._typed("WWW-Authenticate", parse_auth)

    @property
    def proxy_authenticate(self) -> list[AuthValue]:
        return self._typed("Proxy-Authenticate", parse_auth)

    def _required(self, name: str, parse: Callable[[str], T]) -> T:
        value = self._single(name, parse)
        if value is None:
            raise GrammarError(f"Missing {name} header field")
        return value

    # -- changes --------------------------------------------------------------
    def set_body(self, body: bytes, content_type: str | None = None) -> None:
        """Replace the body and its Content-Length (and Content-Type when given)."""
        self.body = body
        self.headers.set("Content-Length", str(len(body)))
        if content_type is not None:
            self.headers.set("Content-Type", content_type)

    # -- serializer -----------------------------------------------------------
    def start_line(self) -> str:
        raise NotImplementedError

    def to_bytes(self) -> bytes:
        """The message on the wire. Fields as received are written back as received;
        a Content-Length is added when there is none, as stream transports need it
        (RFC 3261 section 18.3)."""
        lines = [self.start_line()]
        lines.extend(f.to_text() for f in self.headers.fields)
        if "Content-Length" not in self.headers:
            lines.append(f"Content-Length: {len(self.body)}")
        head = "\r\n".join(lines) + "\r\n\r\n"
        return head.encode("utf-8", "surrogateescape") + self.body


@dataclass(eq=False)
class Request(Message):
    method: str = "OPTIONS"
    uri: Uri | None = None
    version: str = "SIP/2.0"
    #: The Request-URI as written (kept so a forwarded request is byte-exact).
    uri_text: str | None = None

    def start_line(self) -> str:
        if self.uri_text is None and self.uri is None:
            raise LocalProtocolError("A request needs a Request-URI")
        uri = self.uri_text if self.uri_text is not None else str(self.uri)
        return f"{self.method} {uri} {self.version}"

    def set_uri(self, uri: Uri) -> None:
        self.uri = uri
        self.uri_text = None

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.uri}>"


@dataclass(eq=False)
class Response(Message):
    status: int = 200
    reason: str = "OK"
    version: str = "SIP/2.0"

    def start_line(self) -> str:
        return f"{self.version} {self.status} {self.reason}"

    @property
    def provisional(self) -> bool:
        return self.status < 200

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.reason}>"


def copy_fields(fields: list[HeaderField]) -> list[HeaderField]:
    return Headers(fields).copy().fields
