"""Small SIP messages for the unit tests."""

from services.sip.protocol import Request, Response, parse_message, response


def request(method: str = "INVITE", *, branch: str | None = "z9hG4bK-1", cseq: int = 1, to_tag: str | None = None,
            uri: str = "sip:bob@example.com", call_id: str = "call-1@example.net",
            via_host: str = "client.example.net:5060") -> Request:  # fmt: skip
    via = f"SIP/2.0/UDP {via_host}" + (f";branch={branch}" if branch else "")
    to = "<sip:bob@example.com>" + (f";tag={to_tag}" if to_tag else "")
    text = (
        f"{method} {uri} SIP/2.0\r\n"
        f"Via: {via}\r\n"
        "Max-Forwards: 70\r\n"
        f"To: {to}\r\n"
        "From: Alice <sip:alice@example.net>;tag=a1\r\n"
        f"Call-ID: {call_id}\r\n"
        f"CSeq: {cseq} {method}\r\n"
        "Contact: <sip:alice@192.0.2.10:5060>\r\n"
        "Content-Length: 0\r\n\r\n"
    )
    message = parse_message(text.encode())
    assert isinstance(message, Request)
    return message


def reply(req: Request, status: int, *, to_tag: str | None = "b1") -> Response:
    """The response a UAS would send, round-tripped through the parser as if received."""
    message = parse_message(response(req, status, to_tag=to_tag).to_bytes())
    assert isinstance(message, Response)
    return message
