"""IPv6 references in SIP (RFC 5118 section 4): the cases its torture messages exercise.

The messages below are written for these tests after the RFC's descriptions
(they are not its corpus): IPv6 references in the Request-URI, Via, Contact
and Route; the ambiguous and unambiguous port; bracketed and bare
``received``; IPv4-mapped addresses; an unbracketed address, which is invalid.
"""

import pytest

from services.sip.protocol import ParseError, Request, SipUri, parse_message, response_destination


def register(uri: str, via: str = "SIP/2.0/UDP [2001:db8::9:1];branch=z9hG4bKas3-111") -> bytes:
    return (
        f"REGISTER {uri} SIP/2.0\r\nTo: <sip:user@example.com>\r\nFrom: <sip:user@example.com>;tag=81x2\r\n"
        f"Via: {via}\r\nCall-ID: SSG9559905523997077@hlau_4100\r\nMax-Forwards: 70\r\n"
        'Contact: "Caller" <sip:caller@[2001:db8::1]>\r\nCSeq: 98176 REGISTER\r\nContent-Length: 0\r\n\r\n'
    ).encode()


def test_valid_ipv6_reference() -> None:
    # RFC 5118 section 4.1
    message = parse_message(register("sip:[2001:db8::10]"))
    assert isinstance(message, Request) and isinstance(message.uri, SipUri)
    assert message.uri.host == "[2001:db8::10]" and message.uri.port is None
    assert message.top_via is not None and message.top_via.host == "[2001:db8::9:1]"
    contact = message.contacts[0].uri
    assert isinstance(contact, SipUri) and contact.host == "[2001:db8::1]"


def test_invalid_ipv6_reference_without_brackets() -> None:
    # RFC 5118 section 4.2: 400
    with pytest.raises(ParseError) as caught:
        parse_message(register("sip:2001:db8::10"))
    assert caught.value.status == 400 and caught.value.can_reply


def test_port_ambiguous_and_unambiguous() -> None:
    # RFC 5118 sections 4.3 and 4.4: the brackets decide.
    ambiguous = parse_message(register("sip:[2001:db8::10:5070]"))
    assert isinstance(ambiguous, Request) and isinstance(ambiguous.uri, SipUri)
    assert (ambiguous.uri.host, ambiguous.uri.port) == ("[2001:db8::10:5070]", None)
    explicit = parse_message(register("sip:[2001:db8::10]:5070"))
    assert isinstance(explicit, Request) and isinstance(explicit.uri, SipUri)
    assert (explicit.uri.host, explicit.uri.port) == ("[2001:db8::10]", 5070)


@pytest.mark.parametrize("received", ["[2001:db8::9:255]", "2001:db8::9:255"])
def test_received_with_and_without_brackets(received: str) -> None:
    # RFC 5118 section 4.5: both spellings are seen; both are accepted.
    via = f"SIP/2.0/UDP [2001:db8::9:1];received={received};branch=z9hG4bKas3-111"
    message = parse_message(register("sip:[2001:db8::10]", via))
    assert message.top_via is not None and message.top_via.received == received
    assert response_destination(message.top_via) == ("2001:db8::9:255", 5060)


def test_mixed_ipv4_and_ipv6_and_mapped_addresses() -> None:
    # RFC 5118 sections 4.7 and 4.9
    via = (
        "SIP/2.0/UDP [2001:db8::9:1]:6050;branch=z9hG4bKas3-111, "
        "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKjhja8781hjuaij65144, "
        "SIP/2.0/TCP [::ffff:192.0.2.2]:19823;branch=z9hG4bKfdjkl"
    )
    message = parse_message(register("sip:[::ffff:192.0.2.10]", via))
    assert [(v.host, v.port) for v in message.vias] == [
        ("[2001:db8::9:1]", 6050),
        ("192.0.2.1", None),
        ("[::ffff:192.0.2.2]", 19823),
    ]


@pytest.mark.parametrize("uri", ["sip:[2001:db8::10", "sip:[2001:db8:::10]", "sip:[192.0.2.1]", "sip:[]"])
def test_broken_references(uri: str) -> None:
    with pytest.raises(ParseError):
        parse_message(register(uri))
