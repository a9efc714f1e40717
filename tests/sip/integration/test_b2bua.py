"""Anchored calls through the real sip service, with a fake media relay answering on NATS.

The relay stand-in (`tests.sip.fake_media`) rewrites SDP deterministically
(c= to RELAY_HOST, a port per side) and keeps what it was asked, so these
tests check the SIP side of the B2BUA: both legs' dialogs, the SDP each phone
sees, CANCEL, BYE from either side, hold and resume, blind transfer, session
timer expiry and the call detail records.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator

import pytest

from libs.contracts import sip as contract
from services.sip.protocol import Request, Response
from tests.sip.fake_media import RELAY_HOST, FakeMediaResponder
from tests.sip.integration.conftest import PASSWORD, SipSuite
from tests.sip.integration.test_proxy import call_records, is_request
from tests.sip.integration.ua import UA

CALLER_SDP = "v=0\r\no=- 1 1 IN IP4 10.0.0.99\r\ns=-\r\nc=IN IP4 10.0.0.99\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
CALLEE_SDP = "v=0\r\no=- 7 7 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\n"
SDP = ["Content-Type: application/sdp"]


@pytest.fixture(scope="module")
def relay(sip_suite: SipSuite) -> Iterator[FakeMediaResponder]:
    responder = FakeMediaResponder(sip_suite.nats_url).start()
    yield responder
    responder.stop()


@pytest.fixture
def domain(sip_suite: SipSuite, relay: FakeMediaResponder) -> str:
    return sip_suite.new_domain()


@pytest.fixture
def phones(sip_suite: SipSuite) -> Iterator:  # type: ignore[type-arg]
    made: list[UA] = []

    def make(user: str, domain: str, port: int | None = None) -> UA:
        ua = UA(user, domain, PASSWORD, proxy=("127.0.0.1", port or sip_suite.sip.port))
        made.append(ua)
        return ua

    yield make
    for ua in made:
        ua.close()


class Call:
    """alice calling bob through the B2BUA, both phones driven by hand."""

    def __init__(self, alice: UA, bob: UA, domain: str) -> None:
        self.alice, self.bob, self.domain = alice, bob, domain
        self.call_id = secrets.token_hex(8)
        self.sent = b""
        self.b_invite: Request | None = None
        self.ok: Response | None = None

    def invite(self, body: str = CALLER_SDP) -> Request:
        headers = [f"Contact: <{self.alice.contact}>", *SDP]
        self.sent = self.alice.request("INVITE", f"sip:bob@{self.domain}", to=f"sip:bob@{self.domain}",
                                       call_id=self.call_id, body=body.encode(), headers=headers)  # fmt: skip
        b_invite = self.bob.expect(is_request("INVITE"))
        assert isinstance(b_invite, Request)
        self.b_invite = b_invite
        return b_invite

    def answer(self) -> Response:
        assert self.b_invite is not None
        self.bob.respond(self.b_invite, 180, "Ringing", to_tag="bobtag")
        self.bob.respond(self.b_invite, 200, "OK", to_tag="bobtag", headers=SDP, body=CALLEE_SDP.encode())
        ok = self.alice.final("INVITE")
        assert ok.status == 200
        self.ok = ok
        self.alice.request("ACK", self.a_target, to=f"sip:bob@{self.domain}", to_tag=ok.to.tag, call_id=self.call_id,
                           cseq=self.alice.cseq)  # fmt: skip
        return ok

    @property
    def a_target(self) -> str:
        assert self.ok is not None
        return str(self.ok.contacts[0].uri)

    @property
    def b_target(self) -> str:
        assert self.b_invite is not None
        return str(self.b_invite.contacts[0].uri)

    def from_alice(self, method: str, body: str = "", headers: list[str] | None = None) -> bytes:
        assert self.ok is not None
        return self.alice.request(method, self.a_target, to=f"sip:bob@{self.domain}", to_tag=self.ok.to.tag,
                                  call_id=self.call_id, body=body.encode(),
                                  headers=[*(SDP if body else []), *(headers or [])])  # fmt: skip

    def from_bob(self, method: str, body: str = "", headers: list[str] | None = None, cseq: int = 1) -> bytes:
        invite = self.b_invite
        assert invite is not None and invite.from_.tag is not None
        return self.bob.request(method, self.b_target, to=str(invite.from_.uri), to_tag=invite.from_.tag,
                                from_tag="bobtag", call_id=invite.call_id, cseq=cseq, body=body.encode(),
                                headers=[*(SDP if body else []), *(headers or [])])  # fmt: skip


def ended_record(sip_suite: SipSuite, call_id: str, count: int = 3) -> dict:  # type: ignore[type-arg]
    records = call_records(sip_suite.nats_url, call_id, count)
    subjects = [r["subject"] for r in records]
    assert subjects.count(contract.CALL_ENDED) == 1, subjects
    return next(r["data"] for r in records if r["subject"] == contract.CALL_ENDED)


def test_anchored_call_and_bye_from_the_caller(phones, domain: str, sip_suite: SipSuite,  # type: ignore[no-untyped-def]
                                               relay: FakeMediaResponder) -> None:  # fmt: skip
    alice, bob = phones("alice", domain), phones("bob", domain)
    assert bob.register().status == 200
    call = Call(alice, bob, domain)
    b_invite = call.invite()
    assert b_invite.call_id != call.call_id and b_invite.from_.tag != alice.tag
    assert f"c=IN IP4 {RELAY_HOST}" in b_invite.body.decode() and "c=IN IP4 10.0.0.99" not in b_invite.body.decode()
    ok = call.answer()
    assert f"c=IN IP4 {RELAY_HOST}" in ok.body.decode() and ok.to.tag != "bobtag"
    assert bob.expect(is_request("ACK")).call_id == b_invite.call_id
    offer = next(r for c, r in relay.relay.requests if c == "offer" and r.call_id == call.call_id)  # type: ignore[attr-defined]
    assert offer.received_from == "127.0.0.1" and offer.from_tag == alice.tag  # type: ignore[attr-defined]
    call.from_alice("BYE")
    assert alice.final("BYE").status == 200
    bye = bob.expect(is_request("BYE"))
    assert isinstance(bye, Request) and bye.call_id == b_invite.call_id
    bob.respond(bye, 200)
    ended = ended_record(sip_suite, call.call_id)
    assert ended["disconnected_by"] == "caller" and ended["ended_by"] == "bye" and ended["status"] == 200
    assert {leg["tag"] for leg in ended["media"]} == {alice.tag, b_invite.from_.tag}
    assert all(leg["rtp"]["packets"] > 0 for leg in ended["media"])
    assert ended["callee"] == f"bob@{domain}" and ended["leg"] == "a"


def test_bye_from_the_callee(phones, domain: str, sip_suite: SipSuite) -> None:  # type: ignore[no-untyped-def]
    alice, bob = phones("alice", domain), phones("bob", domain)
    assert bob.register().status == 200
    call = Call(alice, bob, domain)
    call.invite()
    call.answer()
    call.from_bob("BYE")
    assert bob.final("BYE").status == 200
    bye = alice.expect(is_request("BYE"))
    assert isinstance(bye, Request) and bye.call_id == call.call_id and bye.from_.tag == call.ok.to.tag  # type: ignore[union-attr]
    alice.respond(bye, 200)
    assert ended_record(sip_suite, call.call_id)["disconnected_by"] == "callee"


def test_cancel_before_the_answer(phones, domain: str, sip_suite: SipSuite,  # type: ignore[no-untyped-def]
                                  relay: FakeMediaResponder) -> None:  # fmt: skip
    alice, bob = phones("alice", domain), phones("bob", domain)
    assert bob.register().status == 200
    call = Call(alice, bob, domain)
    b_invite = call.invite()
    bob.respond(b_invite, 180, "Ringing", to_tag="bobtag")
    assert alice.expect(lambda m: isinstance(m, Response) and m.status == 180).status == 180
    branch = call.sent.split(b"branch=")[1].split(b";")[0].decode()
    alice.request("CANCEL", f"sip:bob@{domain}", to=f"sip:bob@{domain}", call_id=call.call_id, cseq=alice.cseq,
                  branch=branch)  # fmt: skip
    assert alice.final("CANCEL").status == 200
    assert alice.final("INVITE").status == 487
    cancel = bob.expect(is_request("CANCEL"))
    assert isinstance(cancel, Request) and cancel.call_id == b_invite.call_id
    bob.respond(cancel, 200)
    bob.respond(b_invite, 487, "Request Terminated", to_tag="bobtag")
    ended = ended_record(sip_suite, call.call_id, 2)
    assert ended["status"] == 487 and ended["disconnected_by"] == "caller" and ended["ended_by"] == "cancel"
    assert "delete" in relay.relay.commands(call.call_id)


def test_hold_and_resume_by_reinvite(phones, domain: str, relay: FakeMediaResponder) -> None:  # type: ignore[no-untyped-def]
    alice, bob = phones("alice", domain), phones("bob", domain)
    assert bob.register().status == 200
    call = Call(alice, bob, domain)
    call.invite()
    call.answer()
    for direction, reply in (("sendonly", "recvonly"), ("sendrecv", "sendrecv")):
        call.from_alice("INVITE", CALLER_SDP + f"a={direction}\r\n", headers=[f"Contact: <{alice.contact}>"])
        reinvite = bob.expect(is_request("INVITE"))
        assert isinstance(reinvite, Request)
        assert f"a={direction}" in reinvite.body.decode() and RELAY_HOST in reinvite.body.decode()
        bob.respond(reinvite, 200, "OK", headers=SDP, body=(CALLEE_SDP + f"a={reply}\r\n").encode())
        assert bob.expect(is_request("ACK")).cseq.number == reinvite.cseq.number
        ok = alice.final("INVITE")
        assert ok.status == 200 and f"a={reply}" in ok.body.decode() and RELAY_HOST in ok.body.decode()
        alice.request("ACK", call.a_target, to=f"sip:bob@{domain}", to_tag=ok.to.tag, call_id=call.call_id,
                      cseq=alice.cseq)  # fmt: skip
    reoffers = [r for c, r in relay.relay.requests if c == "offer" and r.call_id == call.call_id]  # type: ignore[attr-defined]
    assert len(reoffers) == 3 and reoffers[-1].to_tag == call.b_invite.from_.tag  # type: ignore[union-attr]  # type: ignore[attr-defined]
    call.from_alice("BYE")
    bob.respond(bob.expect(is_request("BYE")), 200)  # type: ignore[arg-type]


def test_blind_transfer_by_refer(phones, domain: str, sip_suite: SipSuite) -> None:  # type: ignore[no-untyped-def]
    alice, bob, carol = phones("alice", domain), phones("bob", domain), phones("carol", domain)
    assert bob.register().status == 200 and carol.register().status == 200
    call = Call(alice, bob, domain)
    call.invite()
    call.answer()
    bob.expect(is_request("ACK"))
    call.from_bob("REFER", headers=[f"Refer-To: <sip:carol@{domain}>", f"Contact: <{bob.contact}>"], cseq=2)
    assert bob.final("REFER").status == 202
    trying = bob.expect(is_request("NOTIFY"))
    assert isinstance(trying, Request) and trying.body.startswith(b"SIP/2.0 100")
    assert (trying.headers.get("Event") or "").startswith("refer") and trying.content_type == "message/sipfrag"
    bob.respond(trying, 200)
    c_invite = carol.expect(is_request("INVITE"))
    assert isinstance(c_invite, Request) and RELAY_HOST in c_invite.body.decode()
    assert c_invite.from_.uri == alice_uri(alice)
    carol.respond(c_invite, 200, "OK", to_tag="caroltag", headers=SDP, body=CALLEE_SDP.encode())
    assert carol.expect(is_request("ACK")).call_id == c_invite.call_id
    done = bob.expect(lambda m: isinstance(m, Request) and m.method == "NOTIFY" and m.body.startswith(b"SIP/2.0 200"))
    assert "terminated" in (done.headers.get("Subscription-State") or "")
    bob.respond(done, 200)  # type: ignore[arg-type]
    bye = bob.expect(is_request("BYE"))
    bob.respond(bye, 200)  # type: ignore[arg-type]
    # alice moves to the relay session shared with carol: a re-INVITE with carol's side of it.
    move = alice.expect(is_request("INVITE"))
    assert isinstance(move, Request) and move.call_id == call.call_id and RELAY_HOST in move.body.decode()
    alice.respond(move, 200, "OK", headers=SDP, body=CALLER_SDP.encode())
    # The call goes on between alice and carol: alice's BYE reaches carol, and the call has one record.
    call.from_alice("BYE")
    assert alice.final("BYE").status == 200
    carol_bye = carol.expect(is_request("BYE"))
    assert isinstance(carol_bye, Request) and carol_bye.call_id == c_invite.call_id
    carol.respond(carol_bye, 200)
    ended = ended_record(sip_suite, call.call_id)
    assert ended["disconnected_by"] == "caller"
    # Both relay sessions' counters: alice and bob's, then alice and carol's.
    assert {leg["tag"] for leg in ended["media"]} == {alice.tag, call.b_invite.from_.tag, c_invite.from_.tag}  # type: ignore[union-attr]


def alice_uri(alice: UA):  # type: ignore[no-untyped-def]
    from services.sip.protocol import parse_uri

    return parse_uri(alice.aor)


def test_refer_to_a_stranger_is_forbidden(phones, domain: str) -> None:  # type: ignore[no-untyped-def]
    alice, bob = phones("alice", domain), phones("bob", domain)
    assert bob.register().status == 200
    call = Call(alice, bob, domain)
    call.invite()
    call.answer()
    call.from_bob("REFER", headers=["Refer-To: <sip:someone@elsewhere.invalid>"], cseq=2)
    assert bob.final("REFER").status == 403
    call.from_alice("BYE")
    bob.respond(bob.expect(is_request("BYE")), 200)  # type: ignore[arg-type]


def test_session_timer_expiry_ends_the_call(phones, sip_suite: SipSuite, relay: FakeMediaResponder) -> None:  # type: ignore[no-untyped-def]
    short = sip_suite.start_sip("sip-timer", PARLEY_SIP_SESSION_EXPIRES="2", PARLEY_SIP_MIN_SE="1",
                                PARLEY_SIP_T1="0.05")  # fmt: skip
    domain = sip_suite.new_domain()
    alice, bob = phones("alice", domain, short.port), phones("bob", domain, short.port)
    assert bob.register().status == 200
    call = Call(alice, bob, domain)
    call.invite()
    call.answer()
    started = time.monotonic()
    # bob answers every refresh; alice has vanished and answers nothing.
    while True:
        message = bob.expect(lambda m: isinstance(m, Request) and m.method in ("INVITE", "UPDATE", "BYE"), 15)
        assert isinstance(message, Request)
        if message.method == "BYE":
            bob.respond(message, 200)
            break
        bob.respond(message, 200, "OK", headers=SDP if message.body else [], body=CALLEE_SDP.encode() if message.body
                    else b"")  # fmt: skip
    assert time.monotonic() - started < 15
    ended = ended_record(sip_suite, call.call_id)
    assert ended["disconnected_by"] == "system" and ended["ended_by"] == "timeout" and ended["node"] == "sip-timer"
