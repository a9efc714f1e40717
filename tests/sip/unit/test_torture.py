"""RFC 4475: every torture message is handled the way its section says.

Valid messages (3.1.1, 3.2, 3.3, 3.4) parse, and the fields a proxy or
registrar decides on are readable. Invalid ones (3.1.2, and 3.3's missing and
repeated fields) raise ``ParseError`` with the status the RFC names and a
reply context -- or, for responses, none, since a response is dropped.
"""

from pathlib import Path

import pytest

from services.sip.protocol import (
    AbsoluteUri,
    FramingFailed,
    MessageFramed,
    ParseError,
    Request,
    Response,
    SipUri,
    StreamFramer,
    error_response,
    parse_message,
)
from services.sip.protocol.framing import NEED_DATA

CORPUS = Path(__file__).parent.parent / "conformance"

# file: RFC 4475 section
VALID = {
    "wsinv": "3.1.1.1 A Short Tortuous INVITE",
    "intmeth": "3.1.1.2 Wide Range of Valid Characters",
    "esc01": "3.1.1.3 Valid Use of the % Escaping Mechanism",
    "escnull": "3.1.1.4 Escaped Nulls in URIs",
    "esc02": "3.1.1.5 Use of % When It Is Not an Escape",
    "lwsdisp": "3.1.1.6 Message with No LWS between Display Name and <",
    "longreq": "3.1.1.7 Long Values in Header Fields",
    "dblreq": "3.1.1.8 Extra Trailing Octets in a UDP Datagram",
    "semiuri": "3.1.1.9 Semicolon-Separated Parameters in URI User Part",
    "transports": "3.1.1.10 Varied and Unknown Transport Types",
    "mpart01": "3.1.1.11 Multipart MIME Message",
    "unreason": "3.1.1.12 Unusual Reason Phrase",
    "noreason": "3.1.1.13 Empty Reason Phrase",
    "baddate": "3.1.2.12 Invalid Time Zone in Date Header Field (may be processed; Date is not used)",
    "badbranch": "3.2.1 Missing Transaction Identifier (processed with RFC 2543 matching)",
    "unkscm": "3.3.2 Request-URI with Unknown Scheme (416 is the element's decision)",
    "novelsc": "3.3.3 Request-URI with Known but Atypical Scheme (416 is the element's decision)",
    "unksm2": "3.3.4 Unknown URI Schemes in Header Fields",
    "bext01": "3.3.5 Proxy-Require and Require (420 is the element's decision)",
    "invut": "3.3.6 Unknown Content-Type (415 is the UAS's decision)",
    "regaut01": "3.3.7 Unknown Authorization Scheme (401 is the registrar's decision)",
    "bcast": "3.3.10 200 OK Response with Broadcast Via Header Field Value",
    "zeromf": "3.3.11 Max-Forwards of Zero (483 is a proxy's decision)",
    "cparam01": "3.3.12 REGISTER with a Contact Header Parameter",
    "cparam02": "3.3.13 REGISTER with a URL Parameter",
    "regescrt": "3.3.14 REGISTER with a URL Escaped Header",
    "sdp01": "3.3.15 Unacceptable Accept Offering (406 is the UAS's decision)",
    "inv2543": "3.4.1 INVITE with RFC 2543 Syntax",
}

# file: (RFC 4475 section, status, can reply)
INVALID = {
    "badinv01": ("3.1.2.1 Extraneous Header Field Separators", 400, True),
    "clerr": ("3.1.2.2 Content Length Larger Than Message", 400, True),
    "ncl": ("3.1.2.3 Negative Content-Length", 400, True),
    "scalar02": ("3.1.2.4 Request Scalar Fields with Overlarge Values", 400, True),
    "scalarlg": ("3.1.2.5 Response Scalar Fields with Overlarge Values (dropped)", 400, False),
    "quotbal": ("3.1.2.6 Unterminated Quoted String in Display Name", 400, True),
    "ltgtruri": ("3.1.2.7 <> Enclosing Request-URI", 400, True),
    "lwsruri": ("3.1.2.8 Malformed SIP Request-URI (embedded LWS)", 400, True),
    "lwsstart": ("3.1.2.9 Multiple SP Separating Request-Line Elements", 400, True),
    "trws": ("3.1.2.10 SP Characters at End of Request-Line", 400, True),
    "escruri": ("3.1.2.11 Escaped Headers in SIP Request-URI", 400, True),
    "regbadct": ("3.1.2.13 Failure to Enclose name-addr URI in <>", 400, True),
    "badaspec": ("3.1.2.14 Spaces within addr-spec", 400, True),
    "baddn": ("3.1.2.15 Non-token Characters in Display Name", 400, True),
    "badvers": ("3.1.2.16 Unknown Protocol Version", 505, True),
    "mismatch01": ("3.1.2.17 Start Line and CSeq Method Mismatch", 400, True),
    "mismatch02": ("3.1.2.18 Unknown Method with CSeq Method Mismatch", 400, True),
    "bigcode": ("3.1.2.19 Overlarge Response Code (dropped)", 400, False),
    "insuf": ("3.3.1 Missing Required Header Fields", 400, True),
    "multi01": ("3.3.8 Multiple Values in Single-Value Required Header Fields", 400, True),
    "mcl01": ("3.3.9 Multiple Content-Length Values", 400, True),
}


def load(name: str) -> bytes:
    return (CORPUS / f"{name}.dat").read_bytes()


def test_corpus_is_complete() -> None:
    assert {p.stem for p in CORPUS.glob("*.dat")} == set(VALID) | set(INVALID)
    assert len(VALID) + len(INVALID) == 49


@pytest.mark.parametrize("name", sorted(VALID))
def test_valid_message_parses(name: str) -> None:
    message = parse_message(load(name))
    if isinstance(message, Request):
        assert message.cseq.method == message.method
    assert message.vias and message.call_id and message.from_ and message.to


@pytest.mark.parametrize("name", sorted(VALID))
def test_valid_message_round_trips(name: str) -> None:
    message = parse_message(load(name))
    again = parse_message(message.to_bytes())
    assert again.to_bytes() == message.to_bytes()
    assert again.body == message.body
    assert [str(v) for v in again.vias] == [str(v) for v in message.vias]


@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid_message_is_refused(name: str) -> None:
    section, status, can_reply = INVALID[name]
    with pytest.raises(ParseError) as caught:
        parse_message(load(name))
    assert caught.value.status == status, section
    assert caught.value.can_reply is can_reply, section
    reply = error_response(caught.value, to_tag="x1")
    if can_reply:
        assert reply is not None and reply.startswith(f"SIP/2.0 {status} ".encode())
        assert b"\r\nVia: " in reply and reply.endswith(b"\r\nContent-Length: 0\r\n\r\n")
    else:
        assert reply is None


@pytest.mark.parametrize("name", ["lwsstart", "trws", "escruri", "badvers", "mismatch01", "clerr"])
def test_error_response_is_a_valid_response(name: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_message(load(name))
    reply = error_response(caught.value, to_tag="x1")
    assert reply is not None
    parsed = parse_message(reply)
    assert isinstance(parsed, Response) and parsed.status == caught.value.status and parsed.to.tag == "x1"
    assert parsed.call_id == parse_message(reply).call_id


def test_error_responses_copy_what_could_be_read() -> None:
    with pytest.raises(ParseError) as caught:
        parse_message(load("badinv01"))
    reply = error_response(caught.value)
    assert reply is not None
    assert b"Via: SIP/2.0/UDP 192.0.2.15;;,;,,\r\n" in reply  # copied as it came
    assert b"Call-ID: badinv01.0ha0isndaksdjasdf3234nas\r\n" in reply
    context = caught.value.reply
    assert context is not None and context.top_via.host == "192.0.2.15"
    with pytest.raises(ParseError) as caught:
        parse_message(load("insuf"))
    reply = error_response(caught.value)
    assert reply is not None and b"Call-ID" not in reply and b"CSeq: 193942 INVITE" in reply


def test_wsinv_folding_and_whitespace() -> None:
    message = parse_message(load("wsinv"))
    assert isinstance(message, Request)
    assert message.to.tag == "1918181833n"
    assert message.from_.display == 'J Rosenberg \\"'
    assert message.from_.tag == "98asjd8"
    assert message.max_forwards == 68
    assert message.cseq.number == 9 and message.cseq.method == "INVITE"
    assert [(v.transport, v.host, v.branch) for v in message.vias] == [
        ("UDP", "192.0.2.2", "390skdjuw"),
        ("TCP", "spindle.example.com", "z9hG4bK9ikj8"),
        ("UDP", "192.168.255.111", "z9hG4bK30239"),
    ]
    assert message.headers.get("Subject") == ""
    assert message.headers.get("NewFangledHeader") == "newfangled value continued newfangled value"
    assert message.headers.get("UnknownHeaderWithUnusualValue") == ";;,,;;,;"
    (contact,) = message.contacts
    assert contact.display == 'Quoted string ""'
    assert contact.param("newparam") == "newvalue" and contact.has_param("secondparam") and contact.q == 0.33
    (route,) = message.routes
    assert isinstance(route.uri, SipUri) and route.uri.loose_route
    assert len(message.body) == 150


def test_intmeth_characters() -> None:
    message = parse_message(load("intmeth"))
    assert isinstance(message, Request) and isinstance(message.uri, SipUri)
    assert message.method == "!interesting-Method0123456789_*+`.%indeed'~"
    assert message.uri.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert message.uri.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
    assert message.to.display == "BEL:\x07 NUL:\x00 DEL:\x7f"
    assert message.from_.display_name == "token1~` token2'+_ token3*%!.-"
    assert message.from_.param("fromParam''~+*_!.-%") == "работающий"
    assert message.call_id == "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"


def test_escapes() -> None:
    esc01 = parse_message(load("esc01"))
    assert isinstance(esc01, Request) and isinstance(esc01.uri, SipUri)
    assert esc01.uri.user_unescaped == "sips:user@example.com"
    assert isinstance(esc01.to.uri, SipUri) and esc01.to.uri.user_unescaped == "user"
    (contact,) = esc01.contacts
    assert isinstance(contact.uri, SipUri) and contact.uri.param("name") == "value%41"
    escnull = parse_message(load("escnull"))
    users = [c.uri.user_unescaped for c in escnull.contacts if isinstance(c.uri, SipUri)]
    assert users == ["\x00", "\x00\x00"]
    esc02 = parse_message(load("esc02"))
    assert isinstance(esc02, Request) and esc02.method == "RE%47IST%45R"
    assert len(esc02.contacts) == 2 and esc02.headers.get("C%6Fntact") == "<sip:alias2@host2.example.com>"


def test_application_level_cases_expose_what_the_element_decides_on() -> None:
    unkscm = parse_message(load("unkscm"))
    assert isinstance(unkscm, Request) and isinstance(unkscm.uri, AbsoluteUri)
    assert unkscm.uri.scheme == "nobodyKnowsThisScheme"
    novelsc = parse_message(load("novelsc"))
    assert isinstance(novelsc, Request) and isinstance(novelsc.uri, AbsoluteUri)
    unksm2 = parse_message(load("unksm2"))
    assert isinstance(unksm2.to.uri, AbsoluteUri) and isinstance(unksm2.contacts[0].uri, AbsoluteUri)
    bext01 = parse_message(load("bext01"))
    assert bext01.require == ["nothingSupportsThis", "nothingSupportsThisEither"]
    assert bext01.proxy_require == ["noProxiesSupportThis", "norDoAnyProxiesSupportThis"]
    assert parse_message(load("invut")).content_type == "application/unknownformat"
    (credentials,) = parse_message(load("regaut01")).authorization
    assert credentials.scheme == "NoOneKnowsThisScheme" and not credentials.is_digest
    assert parse_message(load("zeromf")).max_forwards == 0
    assert parse_message(load("sdp01")).headers.get("Accept") == "text/nobodyKnowsThis"
    bcast = parse_message(load("bcast"))
    assert isinstance(bcast, Response) and bcast.vias[1].host == "255.255.255.255"
    (cparam01,) = parse_message(load("cparam01")).contacts
    assert cparam01.has_param("unknownparam") and isinstance(cparam01.uri, SipUri) and not cparam01.uri.params
    (cparam02,) = parse_message(load("cparam02")).contacts
    assert not cparam02.params and isinstance(cparam02.uri, SipUri) and cparam02.uri.has_param("unknownparam")
    (regescrt,) = parse_message(load("regescrt")).contacts
    assert isinstance(regescrt.uri, SipUri) and regescrt.uri.headers == (("Route", "%3Csip:sip.example.com%3E"),)
    badbranch = parse_message(load("badbranch"))
    assert badbranch.top_via is not None and not badbranch.top_via.rfc3261_branch


def test_datagram_framing_cases() -> None:
    dblreq = parse_message(load("dblreq"))
    assert isinstance(dblreq, Request) and dblreq.method == "REGISTER" and dblreq.body == b""
    inv2543 = parse_message(load("inv2543"))
    assert inv2543.content_length is None and inv2543.body.startswith(b"v=0") and inv2543.max_forwards is None
    assert isinstance(inv2543.to.uri, SipUri) and inv2543.to.param("user") == "phone"
    mpart01 = parse_message(load("mpart01"))
    assert len(mpart01.body) == mpart01.content_length and b"\x00" in mpart01.body
    unreason = parse_message(load("unreason"))
    assert isinstance(unreason, Response) and unreason.reason.startswith("= 2**3 * 5**2 ")
    noreason = parse_message(load("noreason"))
    assert isinstance(noreason, Response) and noreason.status == 100 and noreason.reason == ""


@pytest.mark.parametrize("name", sorted(set(VALID) - {"inv2543", "dblreq"}))
def test_valid_messages_over_a_stream(name: str) -> None:
    data = load(name)
    framer = StreamFramer()
    framer.receive_data(data * 2)
    first, second = framer.next_event(), framer.next_event()
    assert isinstance(first, MessageFramed) and isinstance(second, MessageFramed)
    assert parse_message(first.data).to_bytes() == parse_message(data).to_bytes()
    assert framer.next_event() is NEED_DATA


@pytest.mark.parametrize("name", ["ncl", "mcl01"])
def test_stream_cannot_resynchronise(name: str) -> None:
    framer = StreamFramer()
    framer.receive_data(load(name))
    event = framer.next_event()
    assert isinstance(event, FramingFailed) and event.error.close_connection and event.error.can_reply
    framer.receive_data(load("zeromf"))
    assert framer.next_event() is NEED_DATA
