"""Bytes to a ``Request`` or ``Response`` (RFC 3261 section 7 and 25), or a ``ParseError``.

``parse_message`` takes one whole message: a UDP datagram, a WebSocket
message (RFC 7118), or what ``framing.StreamFramer`` cut from a byte stream.
How it works:

1. The head ends at the first empty line (CRLF CRLF; a bare LF is accepted as
   a line end too). Empty lines before the start line are skipped (RFC 3261
   section 7.5).
2. Lines starting with SP or HTAB continue the previous field (folding).
   Every field keeps its received text; its value is unfolded.
3. The start line is read strictly: single SPs, no LWS inside (section 7.1).
4. The fields every element depends on are parsed at once: Via, From, To,
   Call-ID, CSeq, Max-Forwards, Content-Length, Contact, Route and
   Record-Route; From, To, Call-ID, CSeq, Max-Forwards and Content-Length at
   most once (RFC 4475 multi01, mcl01); Via, From, To, Call-ID and CSeq must
   be there (section 8.1.1, RFC 4475 insuf); the CSeq method must be the
   request's (section 8.1.1.5, RFC 4475 mismatch01/02).
5. The body: Content-Length octets, and anything after them in a datagram is
   ignored (section 18.3, RFC 4475 dblreq); without Content-Length the body
   is the rest of the datagram; a Content-Length beyond the end is an error
   (RFC 4475 clerr).

Any failure is a ``ParseError``. When the message is a request whose request
line starts with a method and whose top Via is readable, the error carries a
``ReplyContext`` so the transport can answer 400 (or 505, 513); otherwise the
message is to be dropped.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from .address import parse_name_addr
from .errors import GrammarError, ParseError, ReplyContext
from .grammar import WSP, is_token, text_cache
from .headers import HeaderField, Headers
from .limits import Limits
from .message import (
    Message,
    Request,
    Response,
    check_call_id,
    parse_contacts,
    parse_content_length,
    parse_cseq,
    parse_max_forwards,
    parse_name_addr_list,
)
from .uri import SipUri, parse_uri
from .via import Via, parse_top_via_leniently, parse_via_list

DEFAULT_LIMITS = Limits()

_HEAD_END_RE = re.compile(rb"\r?\n\r?\n")
_LINE_RE = re.compile(r"\r?\n")
_VERSION_RE = re.compile(r"SIP/(\d+)\.(\d+)", re.IGNORECASE)
_STATUS_RE = re.compile(r"SIP/(\d+)\.(\d+) (\d{3})(?: (.*))?", re.IGNORECASE | re.DOTALL)
_REPLY_FIELDS = ("via", "from", "to", "call-id", "cseq")
# Parsed at once, in this order: (accessor named in errors, field, its parser as the accessor uses it,
# at most once).
_CHECKED: tuple[tuple[str, str, Callable[[str], Any], bool], ...] = (
    ("vias", "Via", parse_via_list, False),
    ("from_", "From", parse_name_addr, True),
    ("to", "To", parse_name_addr, True),
    ("call_id", "Call-ID", check_call_id, True),
    ("cseq", "CSeq", parse_cseq, True),
    ("max_forwards", "Max-Forwards", parse_max_forwards, True),
    ("content_length", "Content-Length", parse_content_length, True),
    ("contacts", "Contact", parse_contacts, False),
    ("routes", "Route", parse_name_addr_list, False),
    ("record_routes", "Record-Route", parse_name_addr_list, False),
)
_MANDATORY = ("Via", "From", "To", "Call-ID", "CSeq")


#: Field names are a small set in practice: their check is remembered.
_is_name = text_cache(is_token, maxsize=1024, longest=64)


def head_end(data: bytes, start: int = 0) -> tuple[int, int] | None:
    """(end of the last header line, start of the body), or None if the head is not complete."""
    match = _HEAD_END_RE.search(data, start)
    return None if match is None else (match.start(), match.end())


def parse_message(data: bytes, limits: Limits = DEFAULT_LIMITS) -> Request | Response:
    """Parse one message; ``ParseError`` if it must be refused or dropped."""
    if len(data) > limits.max_message_size:
        # Answering needs the head; read it, then refuse the size.
        error = ParseError("Message Too Large", status=513)
        _attach_reply_context(error, data[: limits.max_message_size], limits)
        raise error
    start = 0
    while data.startswith(b"\r\n", start) or data.startswith(b"\n", start):
        start += 2 if data.startswith(b"\r\n", start) else 1
    bounds = head_end(data, start)
    if bounds is None and data.endswith(b"\n") and len(data) > start:
        # A datagram whose last header line ends the data, without the empty line:
        # read it as a message without body rather than refusing it.
        end = len(data) - (2 if data.endswith(b"\r\n") else 1)
        bounds = (end, len(data))
    head_bytes = data[start:] if bounds is None else data[start : bounds[0]]
    text = head_bytes.decode("utf-8", "surrogateescape")
    lines = _LINE_RE.split(text)
    try:
        message = _parse_head(lines, limits)
    except ParseError as error:
        if not lines[0].startswith("SIP/"):
            _attach_reply_context(error, data, limits)
        raise
    try:
        if bounds is None:
            raise ParseError("Missing empty line after header fields")
        _check_fields(message)
        message.body = _read_body(data, bounds[1], message)
    except ParseError as error:
        if isinstance(message, Request):
            error.reply = _reply_context(message.method, message.headers)
        raise
    return message


def _parse_head(lines: list[str], limits: Limits) -> Request | Response:
    start_line = lines[0]
    if len(start_line) > limits.max_header_length:
        raise ParseError("Start line too long")
    headers = Headers(_read_fields(lines[1:], limits))
    if start_line.startswith("SIP/") or start_line[:4].upper() == "SIP/":
        return _parse_status_line(start_line, headers)
    return _parse_request_line(start_line, headers)


def _read_fields(lines: list[str], limits: Limits, *, lenient: bool = False) -> list[HeaderField]:
    """Header field lines to fields; ``lenient`` skips broken lines instead of failing."""
    fields: list[HeaderField] = []
    current: list[str] = []
    length = 0  # of the field being read, so a field of many short lines costs linear time

    def finish() -> None:
        raw = current[0] if len(current) == 1 else "\r\n".join(current)
        name, colon, value = current[0].partition(":")
        name = name.rstrip(WSP)
        if len(raw) > limits.max_header_length or not colon or not _is_name(name):
            if lenient:
                return
            raise ParseError("Header field too long" if colon and _is_name(name) else "Malformed header field")
        if len(current) == 1:
            value = value.strip(WSP)
        else:
            value = " ".join([value.strip(WSP), *(line.strip(WSP) for line in current[1:])]).strip(WSP)
        if len(fields) >= limits.max_headers:
            if lenient:
                return
            raise ParseError("Too many header fields")
        fields.append(HeaderField(name, value, raw))

    for line in lines:
        if line and line[0] in WSP:
            if not current:
                if lenient:
                    continue
                raise ParseError("Continuation line without a header field")
            current.append(line)
            length += len(line) + 2
            if not lenient and length > limits.max_header_length:
                raise ParseError("Header field too long")
            continue
        if current:
            finish()
        current = [line]
        length = len(line)
    if current:
        finish()
    return fields


def _parse_request_line(line: str, headers: Headers) -> Request:
    """Request-Line = Method SP Request-URI SP SIP-Version CRLF (RFC 3261 section 7.1)."""
    parts = line.split(" ")
    if len(parts) != 3 or not all(parts):
        raise ParseError("Malformed Request-Line")
    method, uri_text, version = parts
    if not is_token(method):
        raise ParseError("Malformed Request-Line")
    match = _VERSION_RE.fullmatch(version)
    if match is None:
        raise ParseError("Malformed Request-Line")
    if (match.group(1), match.group(2)) != ("2", "0"):
        raise ParseError("Version Not Supported", status=505)
    if any(c <= " " or c == "\x7f" for c in uri_text) or uri_text.startswith("<"):
        raise ParseError("Malformed Request-URI")
    try:
        uri = parse_uri(uri_text)
    except GrammarError as error:
        raise ParseError(f"Malformed Request-URI: {error.reason}") from None
    # RFC 3261 section 19.1.1: headers are not allowed in a Request-URI (RFC 4475 escruri).
    if isinstance(uri, SipUri) and uri.headers:
        raise ParseError("Headers not allowed in Request-URI")
    return Request(headers=headers, method=method, uri=uri, version="SIP/2.0", uri_text=uri_text)


def _parse_status_line(line: str, headers: Headers) -> Response:
    """Status-Line = SIP-Version SP Status-Code SP Reason-Phrase CRLF; the phrase may be empty."""
    match = _STATUS_RE.fullmatch(line)
    if match is None:
        raise ParseError("Malformed Status-Line")
    if (match.group(1), match.group(2)) != ("2", "0"):
        raise ParseError("Version Not Supported", status=505)
    status = int(match.group(3))
    if not 100 <= status <= 699:
        raise ParseError("Status code out of range")
    return Response(headers=headers, status=status, reason=match.group(4) or "", version="SIP/2.0")


def _check_fields(message: Message) -> None:
    """What the accessors in ``_CHECKED`` would do, with one pass over the fields instead of one per accessor."""
    by_name: dict[str, list[HeaderField]] = {}
    for f in message.headers.fields:
        found = by_name.get(f.key)
        if found is None:
            by_name[f.key] = [f]
        else:
            found.append(f)
    for name in _MANDATORY:
        if name.lower() not in by_name:
            raise ParseError(f"Missing {name} header field", header=name)
    for accessor, name, parse, once in _CHECKED:
        fields = by_name.get(name.lower())
        if not fields:
            continue
        for f in fields:
            if f.parsed is None:
                try:
                    f.parsed = parse(f.value)
                except GrammarError as error:
                    raise ParseError(error.reason, header=accessor) from None
        if once and len(fields) > 1:
            raise ParseError(f"More than one {name} header field", header=accessor)
    if isinstance(message, Request):
        cseq = message.cseq
        if cseq.method != message.method:
            raise ParseError("CSeq method does not match the Request-Line", header="CSeq")


def _read_body(data: bytes, body_start: int, message: Message) -> bytes:
    length = message.content_length
    available = len(data) - body_start
    if length is None:
        return data[body_start:]
    if length > available:
        raise ParseError("Content-Length larger than the message", header="Content-Length")
    return data[body_start : body_start + length]


def _reply_context(method: str, headers: Headers) -> ReplyContext | None:
    copied = tuple((f.name, f.value) for f in headers if f.key in _REPLY_FIELDS)
    vias = headers.get_all("Via")
    top: Via | None = parse_top_via_leniently(vias[0]) if vias else None
    if top is None:
        return None
    return ReplyContext(method, copied, top)


def _attach_reply_context(error: ParseError, data: bytes, limits: Limits) -> None:
    """After a failure in the head: find the method and the fields a 400 copies, if readable."""
    bounds = head_end(data)
    head = (data if bounds is None else data[: bounds[0]]).decode("utf-8", "surrogateescape")
    lines = _LINE_RE.split(head.lstrip("\r\n"))
    method = lines[0].split(" ", 1)[0]
    if not is_token(method) or method.upper().startswith("SIP/"):
        return
    error.reply = _reply_context(method, Headers(_read_fields(lines[1:], limits, lenient=True)))
