"""Calls and instant messages through the real proxy (RFC 3261 section 16, RFC 3428), and the farm."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Iterator

import nats
import pytest

from libs.contracts import sip as contract
from services.sip.protocol import Request, Response
from tests.sip.integration.conftest import PASSWORD, SipSuite
from tests.sip.integration.ua import UA


@pytest.fixture
def domain(sip_suite: SipSuite) -> str:
    return sip_suite.new_domain()


@pytest.fixture
def ua_factory(sip_suite: SipSuite) -> Iterator:  # type: ignore[type-arg]
    made: list[UA] = []

    def make(user: str, domain: str, *, transport: str = "UDP", port: int | None = None) -> UA:
        ua = UA(user, domain, PASSWORD, proxy=("127.0.0.1", port or sip_suite.sip.port), transport=transport)
        made.append(ua)
        return ua

    yield make
    for ua in made:
        ua.close()


def is_request(method: str):  # type: ignore[no-untyped-def]
    return lambda m: isinstance(m, Request) and m.method == method


def invite(caller: UA, callee_aor: str, call_id: str) -> bytes:
    body = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
    return caller.request("INVITE", callee_aor, to=callee_aor, call_id=call_id, body=body,
                          headers=[f"Contact: <{caller.contact}>", "Content-Type: application/sdp"])  # fmt: skip


def call_records(nats_url: str, call_id: str, count: int = 3) -> list[dict]:  # type: ignore[type-arg]
    """The CDR stream's records of one call, in order (read with an ephemeral consumer)."""

    async def read() -> list[dict]:  # type: ignore[type-arg]
        nc = await nats.connect(nats_url)
        js = nc.jetstream()
        sub = await js.subscribe(contract.CDR_SUBJECTS, stream=contract.CDR_STREAM, ordered_consumer=True)
        found = []
        try:
            while True:
                msg = await sub.next_msg(timeout=1)
                data = json.loads(msg.data)
                if data["call_id"] == call_id:
                    found.append({"subject": msg.subject, "data": data})
        except nats.errors.TimeoutError:
            pass
        await nc.close()
        return found

    for _ in range(20):
        records = asyncio.run(read())
        if len(records) >= count:
            return records
    return records


def test_invite_forks_to_both_contacts_and_cancels_the_loser(ua_factory, domain: str, sip_suite: SipSuite) -> None:  # type: ignore[no-untyped-def]
    alice = ua_factory("alice", domain)
    bob1 = ua_factory("bob", domain)
    bob2 = ua_factory("bob", domain, transport="TCP")
    assert bob1.register().status == 200
    assert bob2.register().status == 200
    call_id = secrets.token_hex(8)
    invite(alice, f"sip:bob@{domain}", call_id)
    assert alice.expect(lambda m: isinstance(m, Response) and m.status == 100).status == 100
    inv1 = bob1.expect(is_request("INVITE"))
    inv2 = bob2.expect(is_request("INVITE"))
    assert isinstance(inv1, Request) and isinstance(inv2, Request)
    assert str(inv1.uri) == bob1.contact and str(inv2.uri) == bob2.contact
    assert inv1.max_forwards == 69
    assert inv1.record_routes and inv1.record_routes[0].uri.params  # lr
    bob1.respond(inv1, 180, "Ringing", to_tag="b1")
    bob2.respond(inv2, 180, "Ringing", to_tag="b2")
    ringing = alice.expect(lambda m: isinstance(m, Response) and m.status == 180)
    assert len(ringing.vias) == 1  # the proxy's Via is gone
    bob1.respond(inv1, 200, "OK", to_tag="b1")
    ok = alice.final("INVITE")
    assert ok.status == 200 and ok.to.tag == "b1"
    cancel = bob2.expect(is_request("CANCEL"))
    assert isinstance(cancel, Request)
    bob2.respond(cancel, 200)
    bob2.respond(inv2, 487, "Request Terminated", to_tag="b2")
    # ACK and BYE follow the Record-Route through the proxy to bob1.
    route = [f"Route: {r}" for r in ok.headers.values("Record-Route")]
    target = str(ok.contacts[0].uri)
    alice.request("ACK", target, to=f"sip:bob@{domain}", to_tag="b1", call_id=call_id, cseq=alice.cseq, headers=route)
    assert bob1.expect(is_request("ACK")).method == "ACK"
    alice.request("BYE", target, to=f"sip:bob@{domain}", to_tag="b1", call_id=call_id, headers=route)
    bye = bob1.expect(is_request("BYE"))
    bob1.respond(bye, 200)
    assert alice.final("BYE").status == 200
    records = call_records(sip_suite.nats_url, call_id)
    assert [r["subject"] for r in records] == [contract.CALL_ATTEMPTED, contract.CALL_ANSWERED, contract.CALL_ENDED]
    ended = records[-1]["data"]
    assert ended["status"] == 200 and ended["ended_by"] == "bye" and ended["callee"] == f"bob@{domain}"
    assert ended["from_uri"] == f"sip:alice@{domain}" and ended["node"] == "sip1" and ended["answered_at"]


def test_unknown_user_is_404_and_unregistered_is_480(ua_factory, domain: str) -> None:  # type: ignore[no-untyped-def]
    alice = ua_factory("alice", domain)
    invite(alice, f"sip:nobody@{domain}", secrets.token_hex(8))
    assert alice.final("INVITE").status == 404
    invite(alice, f"sip:carol@{domain}", secrets.token_hex(8))
    assert alice.final("INVITE").status == 480


def test_busy_everywhere_wins(ua_factory, domain: str) -> None:  # type: ignore[no-untyped-def]
    alice = ua_factory("alice", domain)
    bob1, bob2 = ua_factory("bob", domain), ua_factory("bob", domain)
    assert bob1.register().status == 200 and bob2.register().status == 200
    invite(alice, f"sip:bob@{domain}", secrets.token_hex(8))
    inv1, inv2 = bob1.expect(is_request("INVITE")), bob2.expect(is_request("INVITE"))
    bob2.respond(inv2, 180, "Ringing", to_tag="x2")
    bob1.respond(inv1, 486, "Busy Here", to_tag="x1")
    bob2.respond(inv2, 603, "Decline", to_tag="x2")
    assert alice.final("INVITE").status == 603


def test_caller_cancel_reaches_every_branch(ua_factory, domain: str, sip_suite: SipSuite) -> None:  # type: ignore[no-untyped-def]
    alice = ua_factory("alice", domain)
    bob = ua_factory("bob", domain)
    assert bob.register().status == 200
    call_id = secrets.token_hex(8)
    sent = invite(alice, f"sip:bob@{domain}", call_id)
    inv = bob.expect(is_request("INVITE"))
    bob.respond(inv, 180, "Ringing", to_tag="r1")
    alice.expect(lambda m: isinstance(m, Response) and m.status == 180)
    branch = sent.split(b"branch=")[1].split(b";")[0].decode()
    alice.request("CANCEL", f"sip:bob@{domain}", to=f"sip:bob@{domain}", call_id=call_id, cseq=alice.cseq,
                  branch=branch)  # fmt: skip
    assert alice.final("CANCEL").status == 200
    assert alice.final("INVITE").status == 487
    cancel = bob.expect(is_request("CANCEL"))
    bob.respond(cancel, 200)
    bob.respond(inv, 487, "Request Terminated", to_tag="r1")
    records = call_records(sip_suite.nats_url, call_id, 2)
    assert [r["subject"] for r in records][-1] == contract.CALL_ENDED
    assert records[-1]["data"]["status"] == 487 and records[-1]["data"]["ended_by"] == "cancel"


def test_max_forwards_zero_is_483(ua_factory, domain: str) -> None:  # type: ignore[no-untyped-def]
    alice = ua_factory("alice", domain)
    data = invite(alice, f"sip:bob@{domain}", secrets.token_hex(8))
    alice.final("INVITE")
    alice.send_raw(data.replace(b"Max-Forwards: 70", b"Max-Forwards: 0").replace(b"CSeq: ", b"CSeq: 1").replace(
        b"branch=z9hG4bK", b"branch=z9hG4bKmf0"))  # fmt: skip
    assert alice.final("INVITE").status == 483


def test_calls_to_other_domains_need_authentication(ua_factory, domain: str) -> None:  # type: ignore[no-untyped-def]
    alice = ua_factory("alice", domain)
    invite(alice, "sip:someone@elsewhere.invalid", secrets.token_hex(8))
    challenge = alice.final("INVITE")
    assert challenge.status == 407
    assert challenge.proxy_authenticate[0].realm == domain
    stranger = UA("mallory", "elsewhere.invalid", "x", proxy=alice.proxy)
    try:
        invite(stranger, "sip:someone@elsewhere.invalid", secrets.token_hex(8))
        assert stranger.final("INVITE").status == 403  # no open relay
    finally:
        stranger.close()


def test_message_to_registered_and_offline_user(ua_factory, domain: str, sip_suite: SipSuite) -> None:  # type: ignore[no-untyped-def]
    alice = ua_factory("alice", domain)
    bob = ua_factory("bob", domain)
    assert bob.register().status == 200
    events: list[dict] = []  # type: ignore[type-arg]

    async def listen_then_send() -> None:
        nc = await nats.connect(sip_suite.nats_url)
        sub = await nc.subscribe(contract.im_deliver_subject(f"bob@{domain}"))
        alice.request("MESSAGE", f"sip:bob@{domain}", to=f"sip:bob@{domain}", body=b"hello bob",
                      headers=["Content-Type: text/plain"])  # fmt: skip
        msg = await sub.next_msg(timeout=5)
        events.append(json.loads(msg.data))
        await nc.close()

    asyncio.run(listen_then_send())
    message = bob.expect(is_request("MESSAGE"))
    assert isinstance(message, Request) and message.body == b"hello bob"
    bob.respond(message, 200)
    assert alice.final("MESSAGE").status == 200
    assert events[0]["body"] == "hello bob" and events[0]["account"] == f"bob@{domain}"

    alice.request("MESSAGE", f"sip:carol@{domain}", to=f"sip:carol@{domain}", body=b"while you were away",
                  headers=["Content-Type: text/plain"])  # fmt: skip
    assert alice.final("MESSAGE").status == 202
    carol = ua_factory("carol", domain)
    assert carol.register().status == 200
    later = carol.expect(is_request("MESSAGE"))
    assert isinstance(later, Request) and later.body == b"while you were away"
    carol.respond(later, 200)


def test_two_replicas_share_registrations(ua_factory, domain: str, sip_suite: SipSuite) -> None:  # type: ignore[no-untyped-def]
    second = sip_suite.start_sip("sip2")
    bob = ua_factory("bob", domain)
    assert bob.register().status == 200  # through the first replica
    alice = ua_factory("alice", domain, port=second.port)
    invite(alice, f"sip:bob@{domain}", secrets.token_hex(8))  # through the second
    inv = bob.expect(is_request("INVITE"))
    assert isinstance(inv, Request)
    bob.respond(inv, 200, "OK", to_tag="f1")
    assert alice.final("INVITE").status == 200


def test_no_relay_through_routes_or_fake_dialogs(ua_factory, domain: str) -> None:  # type: ignore[no-untyped-def]
    stranger = ua_factory("mallory", "elsewhere.invalid")
    # A pre-loaded Route to somewhere else, from someone who is not ours: refused.
    stranger.request("OPTIONS", "sip:victim@192.0.2.10", to="sip:victim@192.0.2.10",
                     headers=["Route: <sip:192.0.2.10;lr>"])  # fmt: skip
    assert stranger.final("OPTIONS").status == 403
    # An in-dialog request whose dialog we did not Record-Route: not ours to pass on.
    stranger.request("BYE", "sip:victim@192.0.2.10", to="sip:victim@192.0.2.10", to_tag="t1")
    assert stranger.final("BYE").status == 404


def test_a_replica_killed_the_other_keeps_routing(ua_factory, domain: str, sip_suite: SipSuite) -> None:  # type: ignore[no-untyped-def]
    """The farm: bob registers through one replica, which then dies (kill -9); calls through
    another replica still reach him, because the binding is in sip_locations, not in a process."""
    doomed = sip_suite.start_sip("sip-doomed")
    survivor = sip_suite.start_sip("sip-survivor")
    bob = ua_factory("bob", domain, port=doomed.port)
    assert bob.register().status == 200
    doomed.process.kill()
    alice = ua_factory("alice", domain, port=survivor.port)
    call_id = secrets.token_hex(8)
    invite(alice, f"sip:bob@{domain}", call_id)
    inv = bob.expect(is_request("INVITE"))
    assert isinstance(inv, Request) and inv.call_id == call_id
    bob.respond(inv, 200, "OK", to_tag="k1")
    assert alice.final("INVITE").status == 200


def test_websocket_phone_registers_and_is_called(ua_factory, domain: str, sip_suite: SipSuite) -> None:  # type: ignore[no-untyped-def]
    """RFC 7118: a browser phone over WebSocket registers an unreachable `.invalid` Contact and is
    reached over its own connection; the proxy Record-Routes with transport=ws toward it."""
    bob = ua_factory("bob", domain, transport="WS", port=sip_suite.sip.ws_port)
    reply = bob.register()
    assert reply.status == 200 and ".invalid" in str(reply.contacts[0].uri)
    alice = ua_factory("alice", domain)
    invite(alice, f"sip:bob@{domain}", secrets.token_hex(8))
    inv = bob.expect(is_request("INVITE"))
    assert isinstance(inv, Request) and inv.top_via.transport == "WS"  # type: ignore[union-attr]
    assert "transport=ws" in inv.headers.values("Record-Route")[0]
    bob.respond(inv, 200, "OK", to_tag="w1")
    assert alice.final("INVITE").status == 200
