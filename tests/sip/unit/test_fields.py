"""Header field values: name-addr, Via, CSeq, lists, compact forms, option tags, delta-seconds."""

import pytest

from services.sip.protocol import (
    COMPACT_FORMS,
    GrammarError,
    Headers,
    SipUri,
    Via,
    canonical_name,
    parse_name_addr,
    parse_via,
    response_destination,
)
from services.sip.protocol.grammar import read_params, split_list, unescape, unquote
from services.sip.protocol.message import check_call_id, parse_cseq, parse_delta_seconds, parse_option_tags
from services.sip.protocol.via import parse_top_via_leniently, parse_via_list


@pytest.mark.parametrize(
    ("text", "display", "uri", "params"),
    [
        ('"Bob" <sips:bob@biloxi.com> ;tag=a48s', "Bob", "sips:bob@biloxi.com", (("tag", "a48s"),)),
        ("Anonymous <sip:c8oqz84zk7z@privacy.org>;tag=hyh8", "Anonymous", "sip:c8oqz84zk7z@privacy.org",
         (("tag", "hyh8"),)),
        ("sip:+12125551212@phone2net.com;tag=887s", None, "sip:+12125551212@phone2net.com", (("tag", "887s"),)),
        ("<sip:alice@pc33.atlanta.com;transport=tcp>;expires=3600;q=0.7", None,
         "sip:alice@pc33.atlanta.com;transport=tcp", (("expires", "3600"), ("q", "0.7"))),
        ("Mr. Watson <mailto:watson@bell-telephone.com>", "Mr. Watson", "mailto:watson@bell-telephone.com", ()),
        ('"" <sip:a@b>', "", "sip:a@b", ()),
        ("caller<sip:caller@example.com>;tag=323", "caller", "sip:caller@example.com", (("tag", "323"),)),
        ('<sip:a@b>;p="quoted;value"', None, "sip:a@b", (("p", '"quoted;value"'),)),
        ("<sip:a@b>;received=[2001:db8::9]", None, "sip:a@b", (("received", "[2001:db8::9]"),)),
        ("tel:+1-201-555-0123;tag=x", None, "tel:+1-201-555-0123", (("tag", "x"),)),
    ],
)  # fmt: skip
def test_name_addr(text: str, display: str | None, uri: str, params: tuple) -> None:
    value = parse_name_addr(text)
    assert value.display == display and str(value.uri) == uri and value.params == params
    assert parse_name_addr(str(value)) == value


@pytest.mark.parametrize(
    "text",
    [
        "",
        '"unterminated <sip:a@b>',
        "<sip:a@b",
        "< sip:a@b>",
        "<sip:a@b >",
        "Bell, Alexander <sip:a@b>",
        "sip:a@b?x=y",
        "sip:a@b;",
        "<sip:a@b>;",
        "<sip:a@b>;;tag=1",
        "<sip:a@b> junk",
        "<sip:a@b>;tag=",
        '"x" sip:a@b',
    ],
)
def test_malformed_name_addr(text: str) -> None:
    with pytest.raises(GrammarError):
        parse_name_addr(text)


def test_name_addr_helpers() -> None:
    value = parse_name_addr("sip:a@b;q=0.5;expires=99999999999999")
    assert value.q == 0.5 and value.expires == 2**32 - 1 and value.tag is None
    tagged = value.with_tag("t1")
    assert tagged.tag == "t1" and str(tagged) == "sip:a@b;q=0.5;expires=99999999999999;tag=t1"
    assert parse_name_addr("<sip:a@b;lr>").bracketed
    assert str(parse_name_addr("sip:a@b").with_tag("x")) == "sip:a@b;tag=x"
    assert parse_name_addr("<sip:a@b>;q=2").q is None


@pytest.mark.parametrize(
    ("text", "transport", "host", "port", "branch"),
    [
        ("SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds", "UDP", "pc33.atlanta.com", None, "z9hG4bK776asdhds"),
        ("SIP/2.0/TCP client.biloxi.com:5060;branch=z9hG4bK74bf9", "TCP", "client.biloxi.com", 5060, "z9hG4bK74bf9"),
        ("SIP / 2.0 / TLS [2001:db8::9]:5061 ; branch = z9hG4bKx", "TLS", "[2001:db8::9]", 5061, "z9hG4bKx"),
        ("sip/2.0/ws df7jal23ls0d.invalid;branch=z9hG4bK56sdasks", "WS", "df7jal23ls0d.invalid", None,
         "z9hG4bK56sdasks"),
        ("SIP/2.0/UDP 192.0.2.1 : 5060", "UDP", "192.0.2.1", 5060, None),
    ],
)  # fmt: skip
def test_via(text: str, transport: str, host: str, port: int | None, branch: str | None) -> None:
    via = parse_via(text)
    assert (via.transport, via.host, via.port, via.branch) == (transport, host, port, branch)
    assert parse_via(str(via)) == via


def test_via_parameters() -> None:
    via = parse_via("SIP/2.0/UDP 10.0.0.1:5060;rport;branch=z9hG4bKabc;received=192.0.2.7;ttl=16;maddr=224.2.0.1")
    assert via.has_rport and via.rport is None and via.received == "192.0.2.7" and via.ttl == 16
    assert via.maddr == "224.2.0.1" and via.sent_by == "10.0.0.1:5060" and via.rfc3261_branch
    assert parse_via("SIP/2.0/UDP h;rport=5062").rport == 5062
    assert parse_via("SIP/2.0/UDP h;received=2001:db8::1").received == "2001:db8::1"


def test_via_received_and_rport_from_the_source() -> None:
    # RFC 3581 section 4: with rport, both are filled in.
    via = parse_via("SIP/2.0/UDP 10.0.0.1:5060;rport;branch=z9hG4bKabc")
    assert str(via.received_params("192.0.2.7", 40000)) == (
        "SIP/2.0/UDP 10.0.0.1:5060;rport=40000;branch=z9hG4bKabc;received=192.0.2.7"
    )
    # RFC 3261 section 18.2.1: received only when the host differs.
    plain = parse_via("SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bKabc")
    assert plain.received_params("192.0.2.7", 5060) == plain
    assert parse_via("SIP/2.0/UDP a.example.com").received_params("192.0.2.7", 1).received == "192.0.2.7"


@pytest.mark.parametrize(
    "text",
    [
        "SIP/2.0/UDP",
        "SIP/2.0 host",
        "SIP/2.0/UDP host;;",
        "SIP/2.0/UDP host;branch",
        "SIP/2.0/UDP host;branch=",
        "SIP/2.0/UDP host;received=not-an-ip",
        "SIP/2.0/UDP host;rport=70000",
        "SIP/2.0/UDP host;ttl=300",
        "SIP/2.0/UDP host;maddr=-x-",
        "SIP/2.0/UDP host:",
        "SIP/2.0/UDP host:99999",
        "SIP/2.0/UDP 300.1.1.1",
        "SIP/2.0/UDP [::1",
    ],
)
def test_malformed_via(text: str) -> None:
    with pytest.raises(GrammarError):
        parse_via(text)


def test_via_lists_and_lenient_top() -> None:
    vias = parse_via_list("SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/TCP b:5061;branch=z9hG4bK2")
    assert [v.host for v in vias] == ["a", "b"]
    with pytest.raises(GrammarError):
        parse_via_list("SIP/2.0/UDP a;branch=z9hG4bK1,,")
    top = parse_top_via_leniently("SIP/2.0/UDP 192.0.2.15;;,;,,")
    assert isinstance(top, Via) and top.host == "192.0.2.15" and top.params == ()
    assert parse_top_via_leniently("garbage") is None


@pytest.mark.parametrize(
    ("text", "number", "method"),
    [("4711 INVITE", 4711, "INVITE"), ("0009   INVITE", 9, "INVITE"), ("2147483647 BYE", 2**31 - 1, "BYE")],
)
def test_cseq(text: str, number: int, method: str) -> None:
    cseq = parse_cseq(text)
    assert (cseq.number, cseq.method) == (number, method)


@pytest.mark.parametrize("text", ["", "INVITE", "1", "-1 INVITE", "2147483648 INVITE", "1 IN VITE", "x INVITE"])
def test_malformed_cseq(text: str) -> None:
    with pytest.raises(GrammarError):
        parse_cseq(text)


def test_call_id() -> None:
    assert check_call_id("f81d4fae-7dec-11d0-a765-00a0c91e6bf6@foo.bar.com")
    for bad in ["", "a b", "a@", "@b", "a@b@c", "a,b"]:
        with pytest.raises(GrammarError):
            check_call_id(bad)


def test_option_tags_and_delta_seconds() -> None:
    assert parse_option_tags("100rel, timer ,path") == ["100rel", "timer", "path"]
    assert parse_option_tags("") == []
    with pytest.raises(GrammarError):
        parse_option_tags("a b")
    assert parse_delta_seconds("3600") == 3600
    assert parse_delta_seconds("1" * 100) == 2**32 - 1
    with pytest.raises(GrammarError):
        parse_delta_seconds("-1")


def test_lists_respect_quotes_and_brackets() -> None:
    assert split_list('"a, b" <sip:x@y;p=1,2>, <sip:z@w>') == ['"a, b" <sip:x@y;p=1,2>', "<sip:z@w>"]
    assert split_list("a ,b") == ["a", "b"]
    for bad in ["a,", ",a", "a,,b", '"open', "<open"]:
        with pytest.raises(GrammarError):
            split_list(bad)


def test_params_quoting_and_escapes() -> None:
    params, _ = read_params(' ; a = 1 ;b; c="x;y" ', 0)
    assert params == [("a", "1"), ("b", None), ("c", '"x;y"')]
    assert unquote('"a\\"b\\\\c"') == 'a"b\\c' and unquote("plain") == "plain"
    assert unescape("%41%20%e2%82%ac") == "A \u20ac" and unescape("%ff") == "\udcff"


def test_compact_forms() -> None:
    expected = {
        "a": "Accept-Contact", "b": "Referred-By", "c": "Content-Type", "d": "Request-Disposition",
        "e": "Content-Encoding", "f": "From", "i": "Call-ID", "j": "Reject-Contact", "k": "Supported",
        "l": "Content-Length", "m": "Contact", "n": "Identity-Info", "o": "Event", "r": "Refer-To",
        "s": "Subject", "t": "To", "u": "Allow-Events", "v": "Via", "x": "Session-Expires", "y": "Identity",
    }  # fmt: skip
    assert COMPACT_FORMS == expected
    for short, long in expected.items():
        assert canonical_name(short) == canonical_name(short.upper()) == long
    assert canonical_name("call-id") == "Call-ID" and canonical_name("CSEQ") == "CSeq"
    assert canonical_name("www-authenticate") == "WWW-Authenticate" and canonical_name("X-Mine") == "X-Mine"


def test_uri_in_name_addr_keeps_its_parameters_apart() -> None:
    bracketed = parse_name_addr("<sip:a@b;transport=tcp>;tag=1")
    assert isinstance(bracketed.uri, SipUri) and bracketed.uri.transport == "tcp" and bracketed.tag == "1"
    bare = parse_name_addr("sip:a@b;transport=tcp")
    assert isinstance(bare.uri, SipUri) and bare.uri.transport is None and bare.param("transport") == "tcp"


def test_response_destination() -> None:
    # RFC 3261 section 18.2.2 and RFC 3581 section 4.
    assert response_destination(parse_via("SIP/2.0/UDP a.example.com")) == ("a.example.com", 5060)
    assert response_destination(parse_via("SIP/2.0/UDP a.example.com:5070;received=192.0.2.1")) == ("192.0.2.1", 5070)
    assert response_destination(parse_via("SIP/2.0/UDP a:5070;received=192.0.2.1;rport=4000")) == ("192.0.2.1", 4000)
    assert response_destination(parse_via("SIP/2.0/UDP a:5070;maddr=224.0.1.75;received=192.0.2.1")) == (
        "224.0.1.75",
        5070,
    )
    assert response_destination(parse_via("SIP/2.0/UDP [2001:db8::1]")) == ("2001:db8::1", 5060)


def test_replacing_the_top_via_keeps_the_others() -> None:
    headers = Headers()
    headers.add("Via", "SIP/2.0/UDP a;branch=z9hG4bK1;rport, SIP/2.0/UDP b;branch=z9hG4bK2")
    headers.add("Via", "SIP/2.0/UDP c;branch=z9hG4bK3")
    top = parse_via(headers.values("Via")[0]).received_params("192.0.2.9", 6000)
    assert headers.replace_first_value("Via", str(top))
    assert headers.values("Via") == [
        "SIP/2.0/UDP a;branch=z9hG4bK1;rport=6000;received=192.0.2.9",
        "SIP/2.0/UDP b;branch=z9hG4bK2",
        "SIP/2.0/UDP c;branch=z9hG4bK3",
    ]
    assert not headers.replace_first_value("Route", "<sip:x>")
