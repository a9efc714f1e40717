"""Digest challenges and credentials (RFC 3261 section 22, RFC 8760 algorithms)."""

import hashlib

import pytest

from services.sip.protocol import (
    GrammarError,
    challenge,
    credentials,
    digest_ha1,
    digest_response,
    parse_auth,
    parse_message,
)


def test_credentials_parameters() -> None:
    value = parse_auth(
        'Digest username="bob", realm="biloxi.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", '
        'uri="sip:bob@biloxi.com", qop=auth, nc=00000001, cnonce="0a4f113b", '
        'response="6629fae49393a05397450978507c4ef1", opaque="5ccc069c403ebaf9f0171e9517f40e41"'
    )
    assert value.is_digest and value.username == "bob" and value.realm == "biloxi.com"
    assert value.uri == "sip:bob@biloxi.com" and value.qop == "auth" and value.nc == "00000001"
    assert value.cnonce == "0a4f113b" and value.algorithm == "MD5" and value.opaque.startswith("5ccc")
    again = parse_auth(str(value))
    assert again == value
    assert "qop=auth," in str(value) and "nc=00000001" in str(value) and 'username="bob"' in str(value)


def test_challenge_round_trip() -> None:
    value = challenge(realm="example.com", nonce="abc", algorithm="SHA-256", opaque="o", stale=True)
    text = str(value)
    assert text == 'Digest realm="example.com", nonce="abc", opaque="o", stale=TRUE, algorithm=SHA-256, qop="auth"'
    parsed = parse_auth(text)
    assert parsed.stale and parsed.algorithm == "SHA-256" and parsed.qop_options == ("auth",)
    assert parse_auth('Digest realm="r", qop="auth,auth-int", nonce="n"').qop_options == ("auth", "auth-int")


def test_quoted_values_with_escapes_and_commas() -> None:
    value = parse_auth('Digest realm="a \\"quoted\\", realm", nonce="n"')
    assert value.realm == 'a "quoted", realm' and value.nonce == "n"


def test_other_schemes() -> None:
    unknown = parse_auth("NoOneKnowsThisScheme opaque-data=here")
    assert unknown.scheme == "NoOneKnowsThisScheme" and unknown.get("opaque-data") == "here"
    basic = parse_auth("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==")
    assert basic.scheme == "Basic" and basic.params == () and basic.raw == "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
    assert str(basic) == "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="


@pytest.mark.parametrize("text", ["", "Digest realm", 'Digest realm="x" nonce="y"', 'Digest realm="x', "Digest ,"])
def test_malformed_digest(text: str) -> None:
    with pytest.raises(GrammarError):
        parse_auth(text)


def test_rfc2617_md5_example() -> None:
    ha1 = digest_ha1(algorithm="MD5", username="Mufasa", realm="testrealm@host.com", password="Circle Of Life")
    response = digest_response(algorithm="MD5", ha1=ha1, nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
                               method="GET", uri="/dir/index.html", qop="auth", nc="00000001",
                               cnonce="0a4f113b")  # fmt: skip
    assert response == "6629fae49393a05397450978507c4ef1"


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [
        ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
        ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
    ],
)
def test_rfc7616_examples(algorithm: str, expected: str) -> None:
    # RFC 7616 section 3.9.1 (the hashes RFC 8760 brings to SIP).
    ha1 = digest_ha1(algorithm=algorithm, username="Mufasa", realm="http-auth@example.org", password="Circle of Life")
    response = digest_response(algorithm=algorithm, ha1=ha1, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
                               method="GET", uri="/dir/index.html", qop="auth", nc="00000001",
                               cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ")  # fmt: skip
    assert response == expected


def test_sha512_256_and_sess_and_auth_int() -> None:
    ha1 = digest_ha1(algorithm="SHA-512-256", username="u", realm="r", password="p")
    assert ha1 == hashlib.new("sha512_256", b"u:r:p").hexdigest()
    no_qop = digest_response(algorithm="SHA-512-256", ha1=ha1, nonce="n", method="REGISTER", uri="sip:r")
    ha2 = hashlib.new("sha512_256", b"REGISTER:sip:r").hexdigest()
    assert no_qop == hashlib.new("sha512_256", f"{ha1}:n:{ha2}".encode()).hexdigest()
    sess = digest_response(algorithm="MD5-sess", ha1="h", nonce="n", method="M", uri="u", qop="auth", nc="1",
                           cnonce="c")  # fmt: skip
    ha1_sess = hashlib.md5(b"h:n:c").hexdigest()
    assert sess == hashlib.md5(f"{ha1_sess}:n:1:c:auth:{hashlib.md5(b'M:u').hexdigest()}".encode()).hexdigest()
    body_hash = hashlib.md5(b"body").hexdigest()
    auth_int = digest_response(algorithm="MD5", ha1="h", nonce="n", method="M", uri="u", qop="auth-int", nc="1",
                               cnonce="c", body=b"body")  # fmt: skip
    ha2_int = hashlib.md5(f"M:u:{body_hash}".encode()).hexdigest()
    assert auth_int == hashlib.md5(f"h:n:1:c:auth-int:{ha2_int}".encode()).hexdigest()
    with pytest.raises(GrammarError):
        digest_ha1(algorithm="SHA-1", username="u", realm="r", password="p")


def test_message_accessors() -> None:
    message = parse_message(
        b"REGISTER sip:example.com SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP h;branch=z9hG4bKa\r\nTo: <sip:a@example.com>\r\nFrom: <sip:a@example.com>;tag=1\r\n"
        b"Call-ID: c\r\nCSeq: 2 REGISTER\r\n"
        b'Authorization: Digest username="a", realm="example.com", nonce="n", uri="sip:example.com", '
        b'response="r", algorithm=SHA-256\r\n'
        b'Proxy-Authorization: Digest username="a", realm="p", nonce="m", uri="sip:example.com", response="s"\r\n'
        b"Content-Length: 0\r\n\r\n"
    )
    (credentials,) = message.authorization
    assert credentials.algorithm == "SHA-256" and credentials.response == "r"
    assert message.proxy_authorization[0].realm == "p"
    assert message.www_authenticate == [] and message.proxy_authenticate == []


def test_answering_a_challenge() -> None:
    challenge_value = parse_auth(str(challenge(realm="example.com", nonce="n1", algorithm="SHA-256", opaque="op")))
    ha1 = digest_ha1(algorithm=challenge_value.algorithm, username="alice", realm="example.com", password="pw")
    answer = digest_response(algorithm=challenge_value.algorithm, ha1=ha1, nonce="n1", method="INVITE",
                             uri="sip:bob@example.org", qop="auth", nc="00000001", cnonce="c0")  # fmt: skip
    value = credentials(username="alice", realm="example.com", nonce="n1", uri="sip:bob@example.org",
                        response=answer, algorithm="SHA-256", opaque="op", qop="auth", cnonce="c0")  # fmt: skip
    text = str(value)
    assert text.startswith('Digest username="alice", realm="example.com", nonce="n1", uri="sip:bob@example.org"')
    assert "algorithm=SHA-256" in text and "qop=auth, nc=00000001" in text
    again = parse_auth(text)
    assert again.response == answer and again.opaque == "op" and again.cnonce == "c0"
