"""REGISTER with digest against the real service over UDP and TCP (RFC 3261 section 10, RFC 8760)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.sip.integration.conftest import PASSWORD, SipSuite
from tests.sip.integration.ua import UA


@pytest.fixture
def domain(sip_suite: SipSuite) -> str:
    return sip_suite.new_domain()


@pytest.fixture
def ua_factory(sip_suite: SipSuite) -> Iterator:  # type: ignore[type-arg]
    made: list[UA] = []

    def make(user: str, domain: str, *, transport: str = "UDP", password: str = PASSWORD, port: int | None = None,
             host: str = "127.0.0.1") -> UA:  # fmt: skip
        proxy_host = "::1" if ":" in host else "127.0.0.1"
        ua = UA(user, domain, password, proxy=(proxy_host, port or sip_suite.sip.port), transport=transport, host=host)
        made.append(ua)
        return ua

    yield make
    for ua in made:
        ua.close()


@pytest.mark.parametrize("transport", ["UDP", "TCP", "TLS"])
def test_register_challenge_then_ok(ua_factory, domain: str, transport: str, sip_suite: SipSuite) -> None:  # type: ignore[no-untyped-def]
    port = sip_suite.sip.tls_port if transport == "TLS" else None
    ua = ua_factory("alice", domain, transport=transport, port=port)
    uri = f"sip:{domain}"
    ua.request("REGISTER", uri, headers=[f"Contact: <{ua.contact}>", "Expires: 300"])
    challenge = ua.final("REGISTER")
    assert challenge.status == 401
    algorithms = [v.algorithm for v in challenge.www_authenticate]
    assert algorithms == ["SHA-256", "MD5"]
    assert all(v.realm == domain for v in challenge.www_authenticate)
    ua.request("REGISTER", uri, headers=[f"Contact: <{ua.contact}>", "Expires: 300",
                                         ua.authorization(challenge, "REGISTER", uri)])  # fmt: skip
    ok = ua.final("REGISTER")
    assert ok.status == 200
    [contact] = ok.contacts
    assert str(contact.uri) == ua.contact
    assert 295 <= (contact.expires or 0) <= 300
    top = ok.top_via
    assert top is not None and top.received == "127.0.0.1" and top.rport == ua.port  # RFC 3581


def test_md5_works_too(ua_factory, domain: str) -> None:  # type: ignore[no-untyped-def]
    ua = ua_factory("bob", domain)
    uri = f"sip:{domain}"
    ua.request("REGISTER", uri, headers=[f"Contact: <{ua.contact}>"])
    challenge = ua.final("REGISTER")
    ua.request("REGISTER", uri, headers=[f"Contact: <{ua.contact}>",
                                         ua.authorization(challenge, "REGISTER", uri, algorithm="MD5")])  # fmt: skip
    assert ua.final("REGISTER").status == 200


def test_wrong_password_is_refused(ua_factory, domain: str) -> None:  # type: ignore[no-untyped-def]
    ua = ua_factory("alice", domain, password="wrong")
    assert ua.register().status == 403


def test_replayed_nonce_count_is_refused(ua_factory, domain: str) -> None:  # type: ignore[no-untyped-def]
    ua = ua_factory("alice", domain)
    uri = f"sip:{domain}"
    headers = [f"Contact: <{ua.contact}>"]
    ua.request("REGISTER", uri, headers=headers)
    challenge = ua.final("REGISTER")
    authorization = ua.authorization(challenge, "REGISTER", uri)
    ua.request("REGISTER", uri, headers=[*headers, authorization])
    assert ua.final("REGISTER").status == 200
    ua.request("REGISTER", uri, headers=[*headers, authorization])  # the same nonce and nc again
    assert ua.final("REGISTER").status == 403
    ua.request("REGISTER", uri, headers=[*headers, ua.authorization(challenge, "REGISTER", uri, nc=2)])
    assert ua.final("REGISTER").status == 200  # the next count is fine


def test_forged_nonce_is_stale(ua_factory, domain: str) -> None:  # type: ignore[no-untyped-def]
    ua = ua_factory("alice", domain)
    uri = f"sip:{domain}"
    ua.request("REGISTER", uri, headers=[f"Contact: <{ua.contact}>"])
    challenge = ua.final("REGISTER")
    forged = ua.authorization(challenge, "REGISTER", uri).replace('nonce="', 'nonce="AAAA')
    ua.request("REGISTER", uri, headers=[f"Contact: <{ua.contact}>", forged])
    again = ua.final("REGISTER")
    assert again.status == 401
    assert all(v.stale for v in again.www_authenticate)


def test_another_accounts_address_cannot_be_registered(ua_factory, domain: str) -> None:  # type: ignore[no-untyped-def]
    ua = ua_factory("alice", domain)
    uri = f"sip:{domain}"
    headers = [f"Contact: <{ua.contact}>"]
    ua.request("REGISTER", uri, to=f"sip:bob@{domain}", headers=headers)
    challenge = ua.final("REGISTER")
    ua.request("REGISTER", uri, to=f"sip:bob@{domain}",
               headers=[*headers, ua.authorization(challenge, "REGISTER", uri)])  # fmt: skip
    assert ua.final("REGISTER").status == 403


def test_foreign_domain_is_refused(ua_factory) -> None:  # type: ignore[no-untyped-def]
    ua = ua_factory("alice", "elsewhere.example")
    ua.request("REGISTER", "sip:elsewhere.example", headers=[f"Contact: <{ua.contact}>"])
    assert ua.final("REGISTER").status == 403


def test_expires_rules_and_multiple_contacts(ua_factory, domain: str) -> None:  # type: ignore[no-untyped-def]
    ua = ua_factory("carol", domain)
    assert ua.register(expires=5).status == 423
    first = ua.register(expires=120, contact=f"sip:carol@{ua.hostport};line=1")
    assert first.status == 200
    both = ua.register(expires=7200, contact=f"sip:carol@{ua.hostport};line=2")
    assert both.status == 200
    assert len(both.contacts) == 2
    assert max(c.expires or 0 for c in both.contacts) <= 3600  # cut to max_expires
    uri = f"sip:{domain}"
    ua.request("REGISTER", uri, headers=["Contact: *", "Expires: 0"])
    challenge = ua.final("REGISTER")
    ua.request("REGISTER", uri, headers=["Contact: *", "Expires: 0", ua.authorization(challenge, "REGISTER", uri)])
    cleared = ua.final("REGISTER")
    assert cleared.status == 200 and cleared.contacts == []


def test_ipv6_over_udp(ua_factory, domain: str) -> None:  # type: ignore[no-untyped-def]
    ua = ua_factory("bob", domain, host="::1")
    reply = ua.register()
    assert reply.status == 200
    assert str(reply.contacts[0].uri) == ua.contact


def test_crlf_keepalive_is_answered_on_streams(sip_suite: SipSuite) -> None:
    """RFC 5626 section 4.4.1: CRLF CRLF on a TCP connection gets CRLF back, and the connection stays."""
    import socket

    with socket.create_connection(("127.0.0.1", sip_suite.sip.port), timeout=5) as sock:
        sock.sendall(b"\r\n\r\n")
        assert sock.recv(16) == b"\r\n"
        sock.sendall(b"\r\n\r\n")
        assert sock.recv(16) == b"\r\n"
