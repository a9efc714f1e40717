"""Parsing a whole message, the serializer, header field changes, limits."""

import pytest

from services.sip.protocol import (
    GrammarError,
    Limits,
    ParseError,
    Request,
    Response,
    SipUri,
    ack_for,
    cancel_for,
    error_response,
    parse_message,
    response,
)
from tests.sip.messages import reply, request

INVITE = (
    b"INVITE sip:bob@biloxi.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds\r\n"
    b"Max-Forwards: 70\r\n"
    b"To: Bob <sip:bob@biloxi.com>\r\n"
    b"From: Alice <sip:alice@atlanta.com>;tag=1928301774\r\n"
    b"Call-ID: a84b4c76e66710@pc33.atlanta.com\r\n"
    b"CSeq: 314159 INVITE\r\n"
    b"Contact: <sip:alice@pc33.atlanta.com>\r\n"
    b"X-Odd-Header :   keep   this   exactly  \r\n"
    b"X-Folded: one\r\n   two\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: 4\r\n\r\n"
    b"v=0\n"
)


def test_rfc3261_invite() -> None:
    message = parse_message(INVITE)
    assert isinstance(message, Request) and message.method == "INVITE"
    assert isinstance(message.uri, SipUri) and message.uri.user == "bob"
    assert message.to.display == "Bob" and message.from_.tag == "1928301774"
    assert message.call_id == "a84b4c76e66710@pc33.atlanta.com" and message.cseq.number == 314159
    assert message.max_forwards == 70 and message.content_length == 4 and message.body == b"v=0\n"
    assert message.content_type == "application/sdp"
    assert message.headers.get("X-Odd-Header") == "keep   this   exactly"
    assert message.headers.get("X-Folded") == "one two"


def test_serializer_keeps_received_fields_byte_exact() -> None:
    message = parse_message(INVITE)
    assert message.to_bytes() == INVITE
    message.headers.insert_first("Via", "SIP/2.0/UDP proxy.example.com;branch=z9hG4bKp1")
    message.headers.set("Max-Forwards", str((message.max_forwards or 70) - 1))
    out = message.to_bytes()
    assert out.startswith(
        b"INVITE sip:bob@biloxi.com SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP proxy.example.com;branch=z9hG4bKp1\r\n"
        b"Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds\r\n"
        b"Max-Forwards: 69\r\n"
    )
    assert b"X-Odd-Header :   keep   this   exactly  \r\nX-Folded: one\r\n   two\r\n" in out
    again = parse_message(out)
    assert [v.host for v in again.vias] == ["proxy.example.com", "pc33.atlanta.com"] and again.max_forwards == 69


def test_typed_values_follow_changes() -> None:
    message = parse_message(INVITE)
    assert message.max_forwards == 70
    message.headers.set("Max-Forwards", "5")
    assert message.max_forwards == 5
    assert message.headers.pop_first_value("Via") == "SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds"
    assert message.vias == [] and "Via" not in message.headers
    message.headers.add("v", "SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/UDP b;branch=z9hG4bK2")
    assert message.headers.pop_first_value("Via") == "SIP/2.0/UDP a;branch=z9hG4bK1"
    assert [v.host for v in message.vias] == ["b"]
    assert message.headers.pop_first_value("Route") is None
    assert message.headers.remove("X-Folded") == 1 and message.headers.get("X-Folded") is None


def test_request_uri_change_and_body() -> None:
    message = parse_message(INVITE)
    assert isinstance(message, Request)
    message.set_uri(SipUri("192.0.2.4", user="bob", port=5062))
    message.set_body(b"new body", "text/plain")
    out = parse_message(message.to_bytes())
    assert isinstance(out, Request) and str(out.uri) == "sip:bob@192.0.2.4:5062"
    assert out.body == b"new body" and out.content_type == "text/plain" and out.content_length == 8


def test_content_length_added_when_missing() -> None:
    data = INVITE.replace(b"Content-Length: 4\r\n", b"")
    message = parse_message(data)
    assert message.body == b"v=0\n"  # datagram: the rest
    assert message.to_bytes().endswith(b"Content-Length: 4\r\n\r\nv=0\n")


def test_compact_and_case_insensitive_names() -> None:
    data = (
        b"OPTIONS sip:a@b SIP/2.0\r\nv: SIP/2.0/UDP h;branch=z9hG4bK1\r\nt: <sip:a@b>\r\nf: <sip:c@d>;tag=1\r\n"
        b"i: id\r\ncSeQ: 1 OPTIONS\r\nm: <sip:c@192.0.2.1>\r\nk: path, gruu\r\nl: 0\r\n\r\n"
    )
    message = parse_message(data)
    assert message.call_id == "id" and message.supported == ["path", "gruu"] and len(message.contacts) == 1
    assert message.headers.get("call-id") == message.headers.get("i") == "id"
    assert message.to_bytes() == data


def test_repeated_and_combined_list_fields() -> None:
    data = (
        b"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h1;branch=z9hG4bK1, SIP/2.0/TCP h2;branch=z9hG4bK2\r\n"
        b"Via: SIP/2.0/UDP h3;branch=z9hG4bK3\r\nTo: <sip:a@b>\r\nFrom: <sip:c@d>;tag=1\r\nCall-ID: x\r\n"
        b"CSeq: 1 INVITE\r\nRoute: <sip:p1;lr>, <sip:p2;lr>\r\nRoute: <sip:p3;lr>\r\nRecord-Route: <sip:r1;lr>\r\n"
        b"Contact: *\r\nRequire: 100rel\r\nProxy-Require: foo\r\nExpires: 60\r\nl: 0\r\n\r\n"
    )
    message = parse_message(data)
    assert [v.host for v in message.vias] == ["h1", "h2", "h3"]
    assert [str(r.uri) for r in message.routes] == ["sip:p1;lr", "sip:p2;lr", "sip:p3;lr"]
    assert [str(r.uri) for r in message.record_routes] == ["sip:r1;lr"]
    assert message.contact_wildcard and message.contacts == []
    assert message.require == ["100rel"] and message.proxy_require == ["foo"] and message.expires == 60


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (INVITE.replace(b"Max-Forwards: 70", b"Max-Forwards: 256"), "Max-Forwards out of range"),
        (INVITE.replace(b"Max-Forwards: 70", b"Max-Forwards: x"), "Bad Max-Forwards"),
        (INVITE.replace(b"Contact: <sip:alice@pc33.atlanta.com>", b"Contact: <sip:alice@>"), "Empty host"),
        (INVITE.replace(b"X-Folded: one", b"X Folded: one"), "Malformed header field"),
        (INVITE.replace(b"X-Folded: one", b"X-Folded one"), "Malformed header field"),
        (INVITE.replace(b"Content-Length: 4", b"Content-Length: 99"), "Content-Length larger than the message"),
        (INVITE[: INVITE.index(b"\r\n\r\n")], "Missing empty line after header fields"),
        (INVITE.replace(b"INVITE sip:bob@biloxi.com SIP/2.0", b"INVITE sip:bob@biloxi.com SIP/2.0x"), "Malformed"),
        (INVITE.replace(b"INVITE sip:bob@biloxi.com SIP/2.0", b"INVITE  sip:bob@biloxi.com SIP/2.0"), "Malformed"),
        (INVITE.replace(b"INVITE sip:bob@biloxi.com SIP/2.0", b"INVITE bob SIP/2.0"), "Malformed Request-URI"),
        (INVITE.replace(b"Call-ID: a84b4c76e66710@pc33.atlanta.com", b"Call-ID: a b"), "Bad Call-ID"),
    ],
)
def test_refused_requests_can_be_answered(data: bytes, reason: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_message(data)
    assert caught.value.reason.startswith(reason) and caught.value.can_reply


def test_responses_are_never_answered() -> None:
    ok = b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nTo: <sip:a@b>;tag=2\r\nFrom: <sip:c@d>;tag=1\r\n"
    assert isinstance(parse_message(ok + b"Call-ID: x\r\nCSeq: 1 INVITE\r\n\r\n"), Response)
    for bad in [b"Call-ID: x\r\nCSeq: x INVITE\r\n\r\n", b"CSeq: 1 INVITE\r\n\r\n"]:
        with pytest.raises(ParseError) as caught:
            parse_message(ok + bad)
        assert not caught.value.can_reply
    for line in [b"SIP/2.0 99 Low", b"SIP/2.0 700 High", b"SIP/2.0 2000 Big", b"SIP/3.0 200 OK", b"SIP/2.0 OK"]:
        with pytest.raises(ParseError) as caught:
            parse_message(line + ok[14:])
        assert not caught.value.can_reply


def test_unreadable_requests_are_dropped() -> None:
    no_via = INVITE.replace(b"Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds\r\n", b"")
    with pytest.raises(ParseError) as caught:
        parse_message(no_via)
    assert caught.value.reason == "Missing Via header field" and not caught.value.can_reply
    bad_via = INVITE.replace(b"Via: SIP/2.0/UDP pc33", b"Via: nonsense")
    with pytest.raises(ParseError) as caught:
        parse_message(bad_via)
    assert not caught.value.can_reply
    bad_method = INVITE.replace(b"INVITE sip:bob@biloxi.com SIP/2.0", b"INV(TE sip:bob@biloxi.com SIP/2.0")
    with pytest.raises(ParseError) as caught:
        parse_message(bad_method)
    assert caught.value.reason == "Malformed Request-Line" and not caught.value.can_reply
    ack = INVITE.replace(b"INVITE", b"ACK").replace(b"CSeq: 314159 ACK", b"CSeq: x ACK")
    with pytest.raises(ParseError) as caught:
        parse_message(ack)
    assert not caught.value.can_reply and error_response(caught.value) is None  # never answer an ACK


def test_leading_crlf_and_bare_lf() -> None:
    message = parse_message(b"\r\n\r\n" + INVITE)
    assert message.call_id == "a84b4c76e66710@pc33.atlanta.com"
    lf = parse_message(INVITE.replace(b"\r\n", b"\n"))
    assert lf.call_id == "a84b4c76e66710@pc33.atlanta.com" and lf.body == b"v=0\n"


def test_limits() -> None:
    limits = Limits(max_message_size=2000, max_headers=16, max_header_length=300)
    many = INVITE.replace(b"X-Folded", b"X-A: 1\r\n" * 10 + b"X-Folded")
    with pytest.raises(ParseError) as caught:
        parse_message(many, limits)
    assert caught.value.reason == "Too many header fields" and caught.value.can_reply
    long = INVITE.replace(b"X-Folded: one", b"X-Folded: " + b"o" * 400)
    with pytest.raises(ParseError) as caught:
        parse_message(long, limits)
    assert caught.value.reason == "Header field too long" and caught.value.can_reply
    folded = INVITE.replace(b"X-Folded: one", b"X-Folded: one" + b"\r\n " + b"o" * 150 + b"\r\n " + b"p" * 150)
    with pytest.raises(ParseError) as caught:
        parse_message(folded, limits)
    assert caught.value.reason == "Header field too long"
    big = INVITE.replace(b"Content-Length: 4", b"Content-Length: 3000") + b"x" * 2996
    with pytest.raises(ParseError) as caught:
        parse_message(big, limits)
    assert caught.value.status == 513 and caught.value.can_reply
    with pytest.raises(ValueError):
        Limits(max_message_size=10)


def test_response_builder_copies_the_right_fields() -> None:
    invite = parse_message(INVITE.replace(b"Max-Forwards: 70\r\n", b"Max-Forwards: 70\r\nTimestamp: 54\r\n"))
    assert isinstance(invite, Request)
    trying = response(invite, 100)
    assert [f.name for f in trying.headers] == ["Via", "To", "From", "Call-ID", "CSeq", "Timestamp",
                                                "Content-Length"]  # fmt: skip
    ringing = response(invite, 180, to_tag="tt")
    assert ringing.to.tag == "tt" and ringing.reason == "Ringing" and "Timestamp" not in ringing.headers
    assert response(invite, 499).reason == "Bad Request"  # class default
    assert parse_message(ringing.to_bytes()).to.tag == "tt"


def test_ack_and_cancel_builders() -> None:
    invite = request("INVITE")
    invite.headers.add("Route", "<sip:p1.example.com;lr>")
    cancel = cancel_for(invite)
    assert cancel.method == "CANCEL" and cancel.cseq.number == invite.cseq.number
    assert str(cancel.top_via) == str(invite.top_via) and [str(r.uri) for r in cancel.routes] == [
        "sip:p1.example.com;lr"
    ]
    ack = ack_for(invite, reply(invite, 404, to_tag="zz"))
    assert ack.to.tag == "zz" and ack.cseq.method == "ACK" and len(ack.routes) == 1
    assert parse_message(ack.to_bytes()).to_bytes() == ack.to_bytes()


def test_more_typed_fields() -> None:
    data = (
        b"SUBSCRIBE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nTo: <sip:bob@example.com>\r\n"
        b"From: <sip:alice@example.com>;tag=1\r\nCall-ID: s\r\nCSeq: 1 SUBSCRIBE\r\no: Presence;id=7\r\n"
        b"Allow: INVITE, ACK, MESSAGE\r\nUnsupported: foo\r\nPath: <sip:p1.example.com;lr>, <sip:p2;lr>\r\n"
        b"Service-Route: <sip:orig@s.example.com;lr>\r\nMin-Expires: 60\r\nExpires: 3600\r\nl: 0\r\n\r\n"
    )
    message = parse_message(data)
    assert message.event is not None and message.event.package == "presence" and message.event.id == "7"
    assert message.allow == ["INVITE", "ACK", "MESSAGE"] and message.unsupported == ["foo"]
    assert [str(p.uri) for p in message.path] == ["sip:p1.example.com;lr", "sip:p2;lr"]
    assert len(message.service_route) == 1 and message.min_expires == 60 and message.expires == 3600
    broken = parse_message(data.replace(b"Expires: 3600", b"Expires: soon"))
    with pytest.raises(GrammarError):
        _ = broken.expires  # parsed when asked for; the TU answers 400


def test_new_request() -> None:
    from services.sip.protocol import NameAddr, Via, new_request, parse_uri

    message = new_request(
        "MESSAGE",
        parse_uri("sip:bob@example.com"),
        via=Via("UDP", "proxy.example.com", 5060, (("branch", "z9hG4bK-m1"),)),
        from_=NameAddr(parse_uri("sip:alice@example.com"), '"Alice"', (("tag", "f1"),)),
        to=NameAddr(parse_uri("sip:bob@example.com")),
        call_id="m1@proxy.example.com",
        cseq=7,
        contact=NameAddr(parse_uri("sip:proxy.example.com")),
        body=b"hello",
        content_type="text/plain",
    )
    data = message.to_bytes()
    assert data.startswith(b"MESSAGE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP proxy.example.com:5060;branch=")
    parsed = parse_message(data)
    assert isinstance(parsed, Request) and parsed.cseq.method == "MESSAGE" and parsed.cseq.number == 7
    assert parsed.from_.display == "Alice" and parsed.from_.tag == "f1" and parsed.body == b"hello"
    assert parsed.max_forwards == 70 and parsed.content_type == "text/plain" and parsed.to_bytes() == data


def test_a_request_without_uri_cannot_be_written() -> None:
    from services.sip.protocol import LocalProtocolError

    with pytest.raises(LocalProtocolError):
        Request(method="OPTIONS").to_bytes()
