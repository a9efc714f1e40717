"""Messages the core itself writes: responses to requests, error responses, ACK and CANCEL.

- ``response(request, status)``: RFC 3261 section 8.2.6.2 -- Via (all, in
  order), From, To (with a tag added when given and absent), Call-ID, CSeq
  copied from the request, and Timestamp for 100 Trying (section 8.2.6.1).
- ``error_response(error)``: the same for a request that did not parse, from
  the fields its ``ReplyContext`` could read.
- ``ack_for(invite, response)``: section 17.1.1.3, the ACK the client INVITE
  transaction sends for a non-2xx final response.
- ``cancel_for(request)``: section 9.1.
- ``new_request(...)``: a request a UAC (or the registrar and presence
  server sending NOTIFY) starts, with the fields of section 8.1.1.
"""

from __future__ import annotations

from .address import NameAddr
from .errors import LocalProtocolError, ParseError
from .headers import HeaderField, Headers
from .message import CSeq, Request, Response
from .uri import Uri
from .via import Via

#: Reason phrases of RFC 3261 section 21 and the common extensions.
REASONS = {
    100: "Trying", 180: "Ringing", 181: "Call Is Being Forwarded", 182: "Queued", 183: "Session Progress",
    199: "Early Dialog Terminated", 200: "OK", 202: "Accepted", 204: "No Notification",
    300: "Multiple Choices", 301: "Moved Permanently", 302: "Moved Temporarily", 305: "Use Proxy",
    380: "Alternative Service", 400: "Bad Request", 401: "Unauthorized", 402: "Payment Required",
    403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 406: "Not Acceptable",
    407: "Proxy Authentication Required", 408: "Request Timeout", 410: "Gone", 412: "Conditional Request Failed",
    413: "Request Entity Too Large", 414: "Request-URI Too Long", 415: "Unsupported Media Type",
    416: "Unsupported URI Scheme", 420: "Bad Extension", 421: "Extension Required", 423: "Interval Too Brief",
    429: "Provide Referrer Identity", 430: "Flow Failed", 439: "First Hop Lacks Outbound Support",
    480: "Temporarily Unavailable", 481: "Call/Transaction Does Not Exist", 482: "Loop Detected",
    483: "Too Many Hops", 484: "Address Incomplete", 485: "Ambiguous", 486: "Busy Here",
    487: "Request Terminated", 488: "Not Acceptable Here", 489: "Bad Event", 491: "Request Pending",
    493: "Undecipherable", 500: "Server Internal Error", 501: "Not Implemented", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Server Time-out", 505: "Version Not Supported",
    513: "Message Too Large", 600: "Busy Everywhere", 603: "Decline", 604: "Does Not Exist Anywhere",
    606: "Not Acceptable",
}  # fmt: skip

_COPIED = ("via", "from", "to", "call-id", "cseq")


def reason_phrase(status: int) -> str:
    return REASONS.get(status, REASONS.get(status // 100 * 100, ""))


def response(request: Request, status: int, reason: str | None = None, *, to_tag: str | None = None) -> Response:
    """A response to ``request`` with the fields section 8.2.6.2 copies; the caller adds the rest."""
    if not 100 <= status <= 699:
        raise LocalProtocolError(f"Status code {status} out of range")
    fields = [HeaderField(f.name, f.value, f.raw) for f in request.headers if f.key in _COPIED]
    if status == 100:
        fields += [HeaderField(f.name, f.value, f.raw) for f in request.headers if f.key == "timestamp"]
    headers = Headers(fields)
    if to_tag is not None and status != 100 and request.to.tag is None:
        headers.set("To", str(request.to.with_tag(to_tag)))
    headers.add("Content-Length", "0")
    return Response(headers=headers, status=status, reason=reason if reason is not None else reason_phrase(status))


def error_response(error: ParseError, *, to_tag: str | None = None) -> bytes | None:
    """The response to a request that did not parse, or None when it must be dropped.

    Only the fields that could be read are copied; a To tag is added when
    given and the To value has none (a malformed To is copied as it came).
    """
    if not error.can_reply or error.reply is None:
        return None
    lines = [f"SIP/2.0 {error.status} {error.reason}"]
    for name, value in error.reply.headers:
        if name == "To" and to_tag is not None and ";tag=" not in value.replace(" ", "").lower():
            value = f"{value};tag={to_tag}"
        lines.append(f"{name}: {value}")
    lines.append("Content-Length: 0")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape")


def ack_for(invite: Request, final: Response) -> Request:
    """RFC 3261 section 17.1.1.3: the ACK for a non-2xx final response to ``invite``."""
    headers = Headers()
    top = invite.headers.values("Via")[0]
    headers.add("Via", top)
    for f in invite.headers:
        if f.key == "route":
            headers.fields.append(HeaderField(f.name, f.value, f.raw))
    headers.add("Max-Forwards", "70")
    headers.add("From", invite.headers.get("From") or "")
    headers.add("To", final.headers.get("To") or "")
    headers.add("Call-ID", invite.call_id)
    headers.add("CSeq", str(CSeq(invite.cseq.number, "ACK")))
    headers.add("Content-Length", "0")
    return Request(headers=headers, method="ACK", uri=invite.uri, uri_text=invite.uri_text)


def cancel_for(request: Request) -> Request:
    """RFC 3261 section 9.1: CANCEL with the Request-URI, Call-ID, To, From, CSeq number and top Via
    of ``request`` (so it reaches the same transaction), and its Route fields."""
    headers = Headers()
    headers.add("Via", request.headers.values("Via")[0])
    for f in request.headers:
        if f.key == "route":
            headers.fields.append(HeaderField(f.name, f.value, f.raw))
    headers.add("Max-Forwards", "70")
    headers.add("From", request.headers.get("From") or "")
    headers.add("To", request.headers.get("To") or "")
    headers.add("Call-ID", request.call_id)
    headers.add("CSeq", str(CSeq(request.cseq.number, "CANCEL")))
    headers.add("Content-Length", "0")
    return Request(headers=headers, method="CANCEL", uri=request.uri, uri_text=request.uri_text)


def new_request(method: str, uri: Uri, *, via: Via, from_: NameAddr, to: NameAddr, call_id: str, cseq: int,
                max_forwards: int = 70, contact: NameAddr | None = None, body: bytes = b"",
                content_type: str | None = None) -> Request:  # fmt: skip
    """A new request with the fields every request carries (RFC 3261 section 8.1.1).

    The From tag, Call-ID and the Via branch (``new_branch``) are the caller's:
    they must be unique, and randomness is not this package's business.
    """
    headers = Headers()
    headers.add("Via", str(via))
    headers.add("Max-Forwards", str(max_forwards))
    headers.add("From", str(from_))
    headers.add("To", str(to))
    headers.add("Call-ID", call_id)
    headers.add("CSeq", str(CSeq(cseq, method)))
    if contact is not None:
        headers.add("Contact", str(contact))
    if content_type is not None:
        headers.add("Content-Type", content_type)
    headers.add("Content-Length", str(len(body)))
    return Request(headers=headers, body=body, method=method, uri=uri)
