"""SIP, SIPS, tel and other URIs (RFC 3261 section 19.1 and 25.1, RFC 3966)."""

import pytest

from services.sip.protocol import AbsoluteUri, GrammarError, SipUri, TelUri, parse_uri, uri_equal


@pytest.mark.parametrize(
    ("text", "user", "password", "host", "port"),
    [
        ("sip:alice@atlanta.com", "alice", None, "atlanta.com", None),
        ("sip:alice:secretword@atlanta.com;transport=tcp", "alice", "secretword", "atlanta.com", None),
        ("sips:alice@atlanta.com?subject=project%20x&priority=urgent", "alice", None, "atlanta.com", None),
        ("sip:+1-212-555-1212:1234@gateway.com;user=phone", "+1-212-555-1212", "1234", "gateway.com", None),
        ("sips:1212@gateway.com", "1212", None, "gateway.com", None),
        ("sip:alice@192.0.2.4", "alice", None, "192.0.2.4", None),
        ("sip:atlanta.com;method=REGISTER?to=alice%40atlanta.com", None, None, "atlanta.com", None),
        ("sip:alice;day=tuesday@atlanta.com", "alice;day=tuesday", None, "atlanta.com", None),
        ("sip:[2001:db8::10]:5070", None, None, "[2001:db8::10]", 5070),
        ("sip:user@[::1];transport=tcp", "user", None, "[::1]", None),
        ("sip:host.example.com.:5061", None, None, "host.example.com.", 5061),
        ("SIP:Alice@AtLanTa.CoM", "Alice", None, "AtLanTa.CoM", None),
        ("sip:%61lice@atlanta.com", "%61lice", None, "atlanta.com", None),
        ("sip:a@under_score.example", "a", None, "under_score.example", None),
    ],
)
def test_sip_uris(text: str, user: str | None, password: str | None, host: str, port: int | None) -> None:
    uri = parse_uri(text)
    assert isinstance(uri, SipUri)
    assert (uri.user, uri.password, uri.host, uri.port) == (user, password, host, port)
    assert parse_uri(str(uri)) == uri
    if text.startswith("sip:") or text.startswith("sips:"):
        assert str(uri) == text


def test_parameters_and_headers() -> None:
    uri = parse_uri("sip:proxy.example.com;lr;transport=TCP;maddr=239.255.255.1;ttl=15?Subject=hi&X=y%20z")
    assert isinstance(uri, SipUri)
    assert uri.loose_route and uri.transport == "tcp" and uri.maddr == "239.255.255.1" and uri.param("ttl") == "15"
    assert uri.headers == (("Subject", "hi"), ("X", "y%20z"))
    assert uri.param("missing") is None and not uri.has_param("missing")
    assert parse_uri("sips:a@b").secure  # type: ignore[union-attr]
    assert parse_uri("sip:%61lice@b").user_unescaped == "alice"  # type: ignore[union-attr]
    assert parse_uri("sip:a@B.Example.COM").host_key == "b.example.com"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "text",
    [
        "sip:",
        "sip:alice@",
        "sip:alice@atlanta.com:",
        "sip:alice@atlanta.com:70000",
        "sip:alice@atlanta.com:5o60",
        "sip:alice@-bad-.com",
        "sip:alice@999.1.1.1",
        "sip:alice@[::g]",
        "sip:alice@[::1",
        "sip:al ice@atlanta.com",
        "sip:al%zzice@atlanta.com",
        "sip:alice@atlanta.com;=x",
        "sip:alice@atlanta.com;a b",
        "sip:alice@atlanta.com?noequals",
        "sip:alice@atlanta.com?a=<b>",
        'sip:a"b@c',
        "sip:a@b@c",
        "sip:alice@a..b",
        "1sip:alice@atlanta.com",
        ":nothing",
        "noscheme",
        "x:",
        "http:with space",
    ],
)
def test_malformed_uris(text: str) -> None:
    with pytest.raises(GrammarError):
        parse_uri(text)


@pytest.mark.parametrize(
    ("text", "number", "is_global", "digits"),
    [
        ("tel:+1-201-555-0123", "+1-201-555-0123", True, "+12015550123"),
        ("tel:7042;phone-context=example.com", "7042", False, "7042"),
        ("tel:863-1234;phone-context=+1-914-555", "863-1234", False, "8631234"),
        ("tel:+1(201)555.0123;ext=22", "+1(201)555.0123", True, "+12015550123"),
        ("tel:*21#;phone-context=example.com", "*21#", False, "*21#"),
    ],
)
def test_tel_uris(text: str, number: str, is_global: bool, digits: str) -> None:
    uri = parse_uri(text)
    assert isinstance(uri, TelUri)
    assert (uri.number, uri.is_global, uri.digits) == (number, is_global, digits)
    assert str(uri) == text


def test_tel_parameters() -> None:
    uri = parse_uri("tel:7042;phone-context=example.com;isub=x")
    assert isinstance(uri, TelUri) and uri.param("phone-context") == "example.com" and uri.param("isub") == "x"


@pytest.mark.parametrize("text", ["tel:", "tel:+", "tel:+1 2", "tel:abcxyz", "tel:+1;=x", "tel:+1;p=a b"])
def test_malformed_tel_uris(text: str) -> None:
    with pytest.raises(GrammarError):
        parse_uri(text)


@pytest.mark.parametrize(
    "text", ["isbn:2983792873", "http://www.example.com", "name:John_Smith", "soap.beep://192.0.2.103:3002", "im:a@b"]
)
def test_other_schemes_are_opaque(text: str) -> None:
    uri = parse_uri(text)
    assert isinstance(uri, AbsoluteUri) and str(uri) == text


@pytest.mark.parametrize(
    ("a", "b"),
    [
        # RFC 3261 section 19.1.4, the equivalent examples
        ("sip:%61lice@atlanta.com;transport=TCP", "sip:alice@AtLanTa.CoM;Transport=tcp"),
        ("sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5"),
        ("sip:carol@chicago.com", "sip:carol@chicago.com;security=on"),
        ("sip:carol@chicago.com;newparam=5", "sip:carol@chicago.com;security=on"),
        ("sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
         "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com"),
        ("sip:alice@atlanta.com?subject=project%20x&priority=urgent",
         "sip:alice@atlanta.com?priority=urgent&subject=project%20x"),
        ("tel:+1-201-555-0123", "tel:+1.201.555.0123"),
        ("isbn:2983792873", "ISBN:2983792873"),
    ],
)  # fmt: skip
def test_equivalent_uris(a: str, b: str) -> None:
    assert uri_equal(parse_uri(a), parse_uri(b)) and uri_equal(parse_uri(b), parse_uri(a))


@pytest.mark.parametrize(
    ("a", "b"),
    [
        # RFC 3261 section 19.1.4, the non-equivalent examples
        ("SIP:ALICE@AtLanTa.CoM;Transport=udp", "sip:alice@AtLanTa.CoM;Transport=UDP"),
        ("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"),
        ("sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp"),
        ("sip:bob@biloxi.com", "sip:bob@biloxi.com:6000;transport=tcp"),
        ("sip:carol@chicago.com", "sip:carol@chicago.com?Subject=next%20meeting"),
        ("sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4"),
        ("sip:carol@chicago.com;security=on", "sip:carol@chicago.com;security=off"),
        ("sip:a@b", "sips:a@b"),
        ("sip:a:x@b", "sip:a@b"),
        ("sip:a@b", "tel:+1"),
    ],
)
def test_different_uris(a: str, b: str) -> None:
    assert not uri_equal(parse_uri(a), parse_uri(b)) and not uri_equal(parse_uri(b), parse_uri(a))
