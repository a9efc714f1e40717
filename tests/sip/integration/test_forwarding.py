"""Per-account call forwarding (always / busy / no answer) from the directory's account settings."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from services.sip.protocol import Request, Response
from tests.sip.integration.conftest import PASSWORD, SipSuite
from tests.sip.integration.ua import UA


@pytest.fixture
def domain(sip_suite: SipSuite) -> str:
    return sip_suite.new_domain()


@pytest.fixture
def ua_factory(sip_suite: SipSuite) -> Iterator:  # type: ignore[type-arg]
    made: list[UA] = []

    def make(user: str, domain: str) -> UA:
        ua = UA(user, domain, PASSWORD, proxy=("127.0.0.1", sip_suite.sip.port))
        made.append(ua)
        return ua

    yield make
    for ua in made:
        ua.close()


def forward(sip_suite: SipSuite, address: str, rules: dict[str, Any]) -> None:
    with sip_suite.admin() as admin:
        reply = admin.put(f"/accounts/{address}/settings", json={"sip": {"forward": rules}})
        assert reply.status_code == 200, reply.text


def invite(caller: UA, callee_aor: str) -> str:
    call_id = secrets.token_hex(8)
    body = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
    caller.request("INVITE", callee_aor, to=callee_aor, call_id=call_id, body=body,
                   headers=[f"Contact: <{caller.contact}>", "Content-Type: application/sdp"])  # fmt: skip
    return call_id


def incoming(ua: UA, method: str = "INVITE", timeout: float = 5.0) -> Request:
    msg = ua.expect(lambda m: isinstance(m, Request) and m.method == method, timeout)
    assert isinstance(msg, Request)
    return msg


def test_forward_always_goes_straight_to_the_target(ua_factory, domain: str, sip_suite: SipSuite) -> None:  # type: ignore[no-untyped-def]
    alice, bob, carol = ua_factory("alice", domain), ua_factory("bob", domain), ua_factory("carol", domain)
    assert bob.register().status == 200 and carol.register().status == 200
    forward(sip_suite, f"bob@{domain}", {"always": f"sip:carol@{domain}"})
    invite(alice, f"sip:bob@{domain}")
    inv = incoming(carol)
    assert str(inv.uri) == carol.contact
    assert f"<sip:bob@{domain}>;reason=unconditional;counter=1" in (inv.headers.get("Diversion") or "")
    carol.respond(inv, 200, to_tag="c1")
    ok = alice.final("INVITE")
    assert ok.status == 200 and ok.to.tag == "c1"
    with pytest.raises(AssertionError):
        incoming(bob, timeout=0.5)  # bob's phone never rang


def test_forward_on_busy(ua_factory, domain: str, sip_suite: SipSuite) -> None:  # type: ignore[no-untyped-def]
    alice, bob, carol = ua_factory("alice", domain), ua_factory("bob", domain), ua_factory("carol", domain)
    assert bob.register().status == 200 and carol.register().status == 200
    forward(sip_suite, f"bob@{domain}", {"busy": f"carol@{domain}"})
    invite(alice, f"sip:bob@{domain}")
    bob.respond(incoming(bob), 486, "Busy Here", to_tag="b1")
    inv = incoming(carol)
    assert "reason=user-busy" in (inv.headers.get("Diversion") or "")
    carol.respond(inv, 486, "Busy Here", to_tag="c1")
    assert alice.final("INVITE").status == 486  # the target busy too: the caller hears busy


def test_forward_on_no_answer_after_the_timeout(ua_factory, domain: str, sip_suite: SipSuite) -> None:  # type: ignore[no-untyped-def]
    alice, bob, carol = ua_factory("alice", domain), ua_factory("bob", domain), ua_factory("carol", domain)
    assert bob.register().status == 200 and carol.register().status == 200
    forward(sip_suite, f"bob@{domain}", {"no_answer": f"sip:carol@{domain}", "no_answer_seconds": 1})
    invite(alice, f"sip:bob@{domain}")
    ringing = incoming(bob)
    bob.respond(ringing, 180, "Ringing", to_tag="b1")
    inv = incoming(carol, timeout=5)
    assert "reason=no-answer" in (inv.headers.get("Diversion") or "")
    cancel = incoming(bob, "CANCEL")  # bob's phone stops ringing
    bob.respond(cancel, 200)
    bob.respond(ringing, 487, "Request Terminated", to_tag="b1")
    carol.respond(inv, 200, to_tag="c1")
    ok = alice.final("INVITE")
    assert ok.status == 200 and ok.to.tag == "c1"


def test_forward_on_no_answer_when_offline_and_loops_end(ua_factory, domain: str, sip_suite: SipSuite) -> None:  # type: ignore[no-untyped-def]
    alice, carol = ua_factory("alice", domain), ua_factory("carol", domain)
    assert carol.register().status == 200
    forward(sip_suite, f"bob@{domain}", {"no_answer": f"carol@{domain}"})  # bob has no phone registered
    invite(alice, f"sip:bob@{domain}")
    inv = incoming(carol)
    assert "reason=no-answer" in (inv.headers.get("Diversion") or "")
    carol.respond(inv, 200, to_tag="c1")
    assert alice.final("INVITE").status == 200
    # bob -> carol -> bob -> ...: the loop stops at carol, whose phone rings.
    forward(sip_suite, f"bob@{domain}", {"always": f"carol@{domain}"})
    forward(sip_suite, f"carol@{domain}", {"always": f"bob@{domain}"})
    invite(alice, f"sip:bob@{domain}")
    inv = incoming(carol)
    carol.respond(inv, 603, "Decline", to_tag="c2")
    assert alice.final("INVITE").status == 603
    # A target nobody has: the caller gets what the callee would have given (480, nobody registered).
    forward(sip_suite, f"bob@{domain}", {"always": f"nobody@{domain}", "no_answer": "not a uri @@"})
    invite(alice, f"sip:bob@{domain}")
    final = alice.final("INVITE")
    assert isinstance(final, Response) and final.status == 480
