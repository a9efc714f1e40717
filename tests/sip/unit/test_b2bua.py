"""The B2BUA's call state machine driven in memory: the core's fakes plus an in-memory relay.

Each test plays both phones by hand (the caller at CALLER, bob's phone at
BOB) and checks what the B2BUA sends each of them, what it asked the relay,
and the call detail records.
"""

from __future__ import annotations

import asyncio

from libs.contracts import sip as contract
from services.sip import _sdp as sdp_rules
from services.sip import _sessiontimer as timers
from services.sip._b2bua import B2bua, B2buaConfig
from services.sip.protocol import Request, Response, parse_message
from services.sip.transport import Peer
from tests.sip.fake_media import RELAY_HOST, FakeRelay
from tests.sip.unit.test_core import CALLER, DOMAIN, Harness, bind

OFFER = "v=0\r\no=- 1 1 IN IP4 10.0.0.99\r\ns=-\r\nc=IN IP4 10.0.0.99\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
ANSWER = "v=0\r\no=- 2 2 IN IP4 203.0.113.1\r\ns=-\r\nc=IN IP4 203.0.113.1\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\n"


def anchored(config: B2buaConfig | None = None) -> tuple[Harness, FakeRelay]:
    h = Harness()
    relay = FakeRelay()
    h.core.b2bua = B2bua(h.core, relay, config or B2buaConfig())
    return h, relay


async def settle() -> None:
    for _ in range(30):
        await asyncio.sleep(0)


def sdp_invite(call_id: str = "c1", extra: str = "") -> str:
    return (
        f"INVITE sip:bob@{DOMAIN} SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bK{call_id};rport\r\n"
        f"Max-Forwards: 70\r\nFrom: <sip:alice@{DOMAIN}>;tag=a\r\nTo: <sip:bob@{DOMAIN}>\r\nCall-ID: {call_id}\r\n"
        f"CSeq: 1 INVITE\r\nContact: <sip:alice@198.51.100.1>\r\nAllow: INVITE, ACK, BYE, CANCEL, UPDATE\r\n{extra}"
        f"Content-Type: application/sdp\r\nContent-Length: {len(OFFER)}\r\n\r\n{OFFER}"
    )


def reply_to(request: Request, status: int, tag: str, sdp: str = "", contact: str = "sip:bob@203.0.113.1") -> str:
    vias = "".join(f"Via: {v}\r\n" for v in request.headers.values("Via"))
    to = request.headers.get("To") or ""
    if ";tag=" not in to:
        to += f";tag={tag}"
    body = f"Content-Type: application/sdp\r\nContent-Length: {len(sdp)}\r\n\r\n{sdp}" if sdp else (
        "Content-Length: 0\r\n\r\n")  # fmt: skip
    return (f"SIP/2.0 {status} X\r\n{vias}From: {request.headers.get('From')}\r\nTo: {to}\r\n"
            f"Call-ID: {request.call_id}\r\nCSeq: {request.cseq}\r\nContact: <{contact}>\r\n{body}")  # fmt: skip


def in_dialog(method: str, uri: str, from_: str, to: str, call_id: str, cseq: int, body: str = "",
              branch: str = "z9hG4bKx") -> str:  # fmt: skip
    tail = f"Content-Type: application/sdp\r\nContent-Length: {len(body)}\r\n\r\n{body}" if body else (
        "Content-Length: 0\r\n\r\n")  # fmt: skip
    return (f"{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.1:5060;branch={branch}\r\nMax-Forwards: 70\r\n"
            f"From: {from_}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: {cseq} {method}\r\n{tail}")  # fmt: skip


async def feed(h: Harness, text: str, peer: Peer) -> None:
    h.core.receive(text.encode(), peer)
    await settle()


def only(messages: list[Request | Response], kind: type, what: str | int) -> Request | Response:
    found = [m for m in messages if isinstance(m, kind) and (m.method if isinstance(m, Request) else m.status) == what]
    assert found, f"no {what} among {messages}"
    return found[0]


async def answered_call(h: Harness) -> tuple[Request, Response, Peer]:
    """alice calls bob, bob's phone rings and answers: returns bob's INVITE, alice's 200 and bob's phone."""
    bob = bind(h, "bob", "203.0.113.1")
    await feed(h, sdp_invite(), CALLER)
    b_invite = only(h.take(bob), Request, "INVITE")
    assert isinstance(b_invite, Request)
    await feed(h, reply_to(b_invite, 180, "bobtag"), bob)
    await feed(h, reply_to(b_invite, 200, "bobtag", ANSWER), bob)
    ok = only(h.take(CALLER), Response, 200)
    assert isinstance(ok, Response)
    return b_invite, ok, bob


async def test_the_callee_gets_a_new_dialog_and_the_relay_sdp() -> None:
    h, relay = anchored()
    b_invite, ok, bob = await answered_call(h)
    assert b_invite.call_id != "c1" and b_invite.from_.tag != "a"
    assert str(b_invite.to.uri) == f"sip:bob@{DOMAIN}" and b_invite.to.tag is None
    assert f"c=IN IP4 {RELAY_HOST}" in b_invite.body.decode() and "c=IN IP4 10.0.0.99" not in b_invite.body.decode()
    assert b_invite.contacts[0].uri.user.startswith("b2b-")  # type: ignore[union-attr]
    assert not b_invite.headers.values("Record-Route")
    offer = relay.requests[0][1]
    assert relay.requests[0][0] == "offer" and offer.received_from == CALLER.host and offer.from_tag == "a"  # type: ignore[attr-defined]
    answer = relay.requests[1][1]
    # The callee's side of the relay session is named by our B-leg tag: the same for every fork branch.
    assert answer.to_tag == b_invite.from_.tag and answer.received_from == bob.host  # type: ignore[attr-defined]
    assert ok.to.tag and ok.to.tag != "bobtag" and ok.call_id == "c1"
    assert f"c=IN IP4 {RELAY_HOST}" in ok.body.decode() and "c=IN IP4 203.0.113.1" not in ok.body.decode()
    assert ok.contacts[0].uri.user.startswith("b2b-")  # type: ignore[union-attr]
    ack = only(h.take(bob), Request, "ACK")
    assert ack.call_id == b_invite.call_id and ack.to.tag == "bobtag"
    assert [type(e).__name__ for e in h.cdr.events] == ["CallAttempted", "CallAnswered"]


async def test_bye_from_the_caller_ends_both_legs_with_one_record() -> None:
    h, relay = anchored()
    b_invite, ok, bob = await answered_call(h)
    h.take()
    contact = str(ok.contacts[0].uri)
    bye = in_dialog("BYE", contact, f"<sip:alice@{DOMAIN}>;tag=a", str(ok.headers.get("To")), "c1", 2)
    await feed(h, bye, CALLER)
    assert only(h.take(CALLER), Response, 200)
    b_bye = only(h.take(bob), Request, "BYE")
    assert b_bye.call_id == b_invite.call_id and b_bye.to.tag == "bobtag"
    await feed(h, reply_to(b_bye, 200, "bobtag"), bob)  # type: ignore[arg-type]
    ended = [e for e in h.cdr.events if isinstance(e, contract.CallEnded)]
    assert len(ended) == 1
    assert ended[0].disconnected_by == "caller" and ended[0].ended_by == "bye" and ended[0].status == 200
    assert {leg.tag for leg in ended[0].media} == {"a", b_invite.from_.tag} and all(
        leg.rtp.packets for leg in ended[0].media
    )
    assert relay.commands().count("delete") == 1 and not h.core.b2bua.calls


async def test_bye_from_the_callee_is_answered_and_sent_to_the_caller() -> None:
    h, _ = anchored()
    b_invite, ok, bob = await answered_call(h)
    h.take()
    uri = str(b_invite.contacts[0].uri)
    await feed(h, in_dialog("BYE", uri, f"<sip:bob@{DOMAIN}>;tag=bobtag", str(b_invite.headers.get("From")),
                            b_invite.call_id, 1), bob)  # fmt: skip
    assert only(h.take(bob), Response, 200)
    a_bye = only(h.take(CALLER), Request, "BYE")
    assert a_bye.call_id == "c1" and a_bye.to.tag == "a" and a_bye.from_.tag == ok.to.tag
    ended = [e for e in h.cdr.events if isinstance(e, contract.CallEnded)]
    assert len(ended) == 1 and ended[0].disconnected_by == "callee"


async def test_cancel_before_the_answer() -> None:
    h, relay = anchored()
    bob = bind(h, "bob", "203.0.113.1")
    await feed(h, sdp_invite(), CALLER)
    b_invite = only(h.take(bob), Request, "INVITE")
    await feed(h, reply_to(b_invite, 180, "bobtag"), bob)  # type: ignore[arg-type]
    h.take()
    cancel = (f"CANCEL sip:bob@{DOMAIN} SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bKc1;rport\r\n"
              f"Max-Forwards: 70\r\nFrom: <sip:alice@{DOMAIN}>;tag=a\r\nTo: <sip:bob@{DOMAIN}>\r\nCall-ID: c1\r\n"
              "CSeq: 1 CANCEL\r\nContent-Length: 0\r\n\r\n")  # fmt: skip
    await feed(h, cancel, CALLER)
    to_caller = h.take(CALLER)
    assert only(to_caller, Response, 200).cseq.method == "CANCEL"
    assert only(to_caller, Response, 487).cseq.method == "INVITE"
    b_cancel = only(h.take(bob), Request, "CANCEL")
    assert b_cancel.call_id == b_invite.call_id
    ended = [e for e in h.cdr.events if isinstance(e, contract.CallEnded)]
    assert len(ended) == 1 and ended[0].status == 487 and ended[0].disconnected_by == "caller"
    assert relay.commands().count("delete") == 1


async def test_busy_callee_gets_the_caller_a_486_and_the_relay_session_deleted() -> None:
    h, relay = anchored()
    bob = bind(h, "bob", "203.0.113.1")
    await feed(h, sdp_invite(), CALLER)
    b_invite = only(h.take(bob), Request, "INVITE")
    await feed(h, reply_to(b_invite, 486, "bobtag"), bob)  # type: ignore[arg-type]
    assert only(h.take(CALLER), Response, 486)
    ended = [e for e in h.cdr.events if isinstance(e, contract.CallEnded)]
    assert len(ended) == 1 and ended[0].disconnected_by == "callee" and relay.commands() == ["offer", "delete"]


async def test_hold_from_the_callee_is_reoffered_on_the_same_node() -> None:
    h, relay = anchored()
    b_invite, ok, bob = await answered_call(h)
    h.take()
    hold = ANSWER.replace("m=audio 5000 RTP/AVP 0\r\n", "m=audio 5000 RTP/AVP 0\r\na=sendonly\r\n")
    uri = str(b_invite.contacts[0].uri)
    await feed(h, in_dialog("INVITE", uri, f"<sip:bob@{DOMAIN}>;tag=bobtag", str(b_invite.headers.get("From")),
                            b_invite.call_id, 2, hold), bob)  # fmt: skip
    reinvite = only(h.take(CALLER), Request, "INVITE")
    assert reinvite.call_id == "c1" and reinvite.to.tag == "a" and "a=sendonly" in reinvite.body.decode()
    assert RELAY_HOST in reinvite.body.decode()
    offer = relay.requests[-1][1]
    assert offer.from_tag == b_invite.from_.tag and offer.to_tag == "a"  # type: ignore[attr-defined]
    held = OFFER.replace("m=audio 4000 RTP/AVP 0\r\n", "m=audio 4000 RTP/AVP 0\r\na=recvonly\r\n")
    await feed(h, reply_to(reinvite, 200, "x", held, contact="sip:alice@198.51.100.1"), CALLER)  # type: ignore[arg-type]
    assert only(h.take(CALLER), Request, "ACK").cseq.number == reinvite.cseq.number
    ok2 = only(h.take(bob), Response, 200)
    assert "a=recvonly" in ok2.body.decode() and RELAY_HOST in ok2.body.decode()
    assert h.core.b2bua.calls[next(iter(h.core.b2bua.calls))].hold == "sendonly"


async def test_session_timer_refresh_that_fails_ends_the_call_as_system() -> None:
    h, relay = anchored(B2buaConfig(session_expires=1, min_se=1))
    b_invite, ok, bob = await answered_call(h)
    h.take()
    await asyncio.sleep(0.6)  # half the interval: both legs are refreshed (both allow UPDATE? alice does)
    update = only(h.take(CALLER), Request, "UPDATE")
    await feed(h, reply_to(update, 481, "x"), CALLER)  # type: ignore[arg-type]
    ended = [e for e in h.cdr.events if isinstance(e, contract.CallEnded)]
    assert len(ended) == 1 and ended[0].disconnected_by == "system" and ended[0].ended_by == "timeout"
    assert only(h.take(bob), Request, "BYE").call_id == b_invite.call_id


async def test_a_session_interval_below_min_se_gets_422() -> None:
    h, relay = anchored(B2buaConfig(min_se=120))
    bind(h, "bob", "203.0.113.1")
    await feed(h, sdp_invite(extra="Session-Expires: 100\r\nSupported: timer\r\n"), CALLER)
    too_brief = only(h.take(CALLER), Response, 422)
    assert too_brief.headers.get("Min-SE") == "120" and not relay.requests


async def test_an_invite_without_sdp_is_proxied() -> None:
    h, relay = anchored()
    bob = bind(h, "bob", "203.0.113.1")
    text = sdp_invite().split("Content-Type")[0] + "Content-Length: 0\r\n\r\n"
    await feed(h, text, CALLER)
    forwarded = only(h.take(bob), Request, "INVITE")
    assert forwarded.call_id == "c1" and forwarded.headers.values("Record-Route") and not relay.requests


async def test_in_dialog_request_for_an_unknown_call_gets_481() -> None:
    h, _ = anchored()
    uri = "sip:b2b-0123456789abcdef@192.0.2.1:5060"
    await feed(h, in_dialog("BYE", uri, f"<sip:alice@{DOMAIN}>;tag=a", f"<sip:bob@{DOMAIN}>;tag=z", "c9", 2), CALLER)
    assert only(h.take(CALLER), Response, 481)


def test_sdp_direction_and_hold() -> None:
    assert sdp_rules.direction(OFFER) == "sendrecv"
    assert sdp_rules.on_hold(OFFER + "a=sendonly\r\n")
    assert sdp_rules.direction("v=0\r\na=inactive\r\nm=audio 1 RTP/AVP 0\r\n") == "inactive"
    assert sdp_rules.direction("v=0\r\na=inactive\r\nm=audio 1 RTP/AVP 0\r\na=sendrecv\r\n") == "sendrecv"
    assert sdp_rules.direction("v=0\r\nc=IN IP4 0.0.0.0\r\nm=audio 1 RTP/AVP 0\r\n") == "sendonly"


def test_session_expires_rules() -> None:
    assert timers.parse_session_expires("1800;refresher=uac") == timers.SessionExpires(1800, "uac")
    request = parse_message(sdp_invite(extra="Session-Expires: 600\r\nMin-SE: 300\r\n").encode())
    assert isinstance(request, Request)
    assert timers.interval_for(request, default=1800, minimum=90) == 600
    assert not timers.too_brief(request, 90) and timers.too_brief(request, 900)
    plain = parse_message(sdp_invite().encode())
    assert isinstance(plain, Request) and timers.interval_for(plain, default=1800, minimum=90) == 1800


async def test_forked_callee_first_answer_wins_and_a_late_2xx_is_hung_up() -> None:
    h, relay = anchored()
    phone1, phone2 = bind(h, "bob", "203.0.113.1"), bind(h, "bob", "203.0.113.2")
    await feed(h, sdp_invite(), CALLER)
    inv1 = only(h.take(phone1), Request, "INVITE")
    inv2 = only(h.take(phone2), Request, "INVITE")
    assert inv1.call_id == inv2.call_id and inv1.top_via.branch != inv2.top_via.branch  # type: ignore[union-attr]
    await feed(h, reply_to(inv2, 180, "two"), phone2)  # type: ignore[arg-type]
    await feed(h, reply_to(inv1, 200, "one", ANSWER), phone1)  # type: ignore[arg-type]
    assert only(h.take(CALLER), Response, 200).body
    assert only(h.take(phone2), Request, "CANCEL").call_id == inv2.call_id
    # phone2 answered at the same moment: its 2xx gets an ACK and a BYE, the call stays with phone1.
    await feed(h, reply_to(inv2, 200, "two", ANSWER, contact="sip:bob@203.0.113.2"), phone2)  # type: ignore[arg-type]
    late = h.take(phone2)
    assert only(late, Request, "ACK").to.tag == "two" and only(late, Request, "BYE").to.tag == "two"
    assert len(h.core.b2bua.calls) == 1 and not [e for e in h.cdr.events if isinstance(e, contract.CallEnded)]


async def test_the_2xx_is_repeated_until_the_caller_acks() -> None:
    h, _ = anchored()
    await answered_call(h)
    await asyncio.sleep(0.6)  # T1 = 0.5 s
    again = [m for m in h.take(CALLER) if isinstance(m, Response) and m.status == 200]
    assert again, "the 2xx was not retransmitted"
    call = next(iter(h.core.b2bua.calls.values()))
    ack = in_dialog("ACK", call.a.contact, f"<sip:alice@{DOMAIN}>;tag=a", call.a.local, "c1", 1)
    await feed(h, ack, CALLER)
    assert call.acked
    await asyncio.sleep(1.1)
    assert not [m for m in h.take(CALLER) if isinstance(m, Response) and m.status == 200]


async def test_a_retransmitted_2xx_of_the_callee_is_acked_again() -> None:
    h, relay = anchored()
    b_invite, ok, bob = await answered_call(h)
    assert only(h.take(bob), Request, "ACK")
    await feed(h, reply_to(b_invite, 200, "bobtag", ANSWER), bob)
    again = h.take(bob)
    assert only(again, Request, "ACK").to.tag == "bobtag"
    assert not [m for m in again if isinstance(m, Request) and m.method == "BYE"]
    assert len(h.core.b2bua.calls) == 1 and relay.commands().count("answer") == 1


async def test_update_from_the_caller_is_reoffered_and_answered() -> None:
    h, relay = anchored()
    b_invite, ok, bob = await answered_call(h)
    h.take()
    held = OFFER + "a=inactive\r\n"
    await feed(h, in_dialog("UPDATE", str(ok.contacts[0].uri), f"<sip:alice@{DOMAIN}>;tag=a",
                            str(ok.headers.get("To")), "c1", 2, held), CALLER)  # fmt: skip
    update = only(h.take(bob), Request, "UPDATE")
    assert update.call_id == b_invite.call_id and "a=inactive" in update.body.decode()
    await feed(h, reply_to(update, 200, "bobtag", ANSWER + "a=inactive\r\n"), bob)  # type: ignore[arg-type]
    answered = only(h.take(CALLER), Response, 200)
    assert answered.cseq.method == "UPDATE" and "a=inactive" in answered.body.decode()
    assert RELAY_HOST in answered.body.decode() and not [m for m in h.take(bob) if isinstance(m, Request)]
    assert relay.requests[-1][0] == "answer" and relay.requests[-1][1].from_tag == "a"  # type: ignore[attr-defined]


async def test_without_a_relay_the_call_is_proxied() -> None:
    from libs.contracts.errors import Unavailable

    class NoRelay(FakeRelay):
        async def offer(self, request):  # type: ignore[no-untyped-def]
            raise Unavailable("no service answers media.rpc.offer")

    h = Harness()
    h.core.b2bua = B2bua(h.core, NoRelay(), B2buaConfig())
    bob = bind(h, "bob", "203.0.113.1")
    await feed(h, sdp_invite(), CALLER)
    forwarded = only(h.take(bob), Request, "INVITE")
    assert (
        forwarded.call_id == "c1"
        and forwarded.headers.values("Record-Route")
        and "10.0.0.99" in forwarded.body.decode()
    )
    assert not h.core.b2bua.calls


async def test_the_caller_transfers_the_callee_by_refer() -> None:
    h, relay = anchored()
    b_invite, ok, bob = await answered_call(h)
    target = bind(h, "alice", "203.0.113.7")  # the transfer target: another phone of a local account
    h.take()
    refer = in_dialog(
        "REFER", str(ok.contacts[0].uri), f"<sip:alice@{DOMAIN}>;tag=a", str(ok.headers.get("To")), "c1", 2
    )
    refer = refer.replace("Content-Length: 0", f"Refer-To: <sip:alice@{DOMAIN}>\r\nContent-Length: 0")
    await feed(h, refer, CALLER)
    to_caller = h.take(CALLER)
    assert only(to_caller, Response, 202)
    trying = only(to_caller, Request, "NOTIFY")
    assert trying.body.startswith(b"SIP/2.0 100") and trying.call_id == "c1"
    new_invite = only(h.take(target), Request, "INVITE")
    assert new_invite.call_id not in ("c1", b_invite.call_id) and RELAY_HOST in new_invite.body.decode()
    assert new_invite.headers.get("Referred-By") == f"<sip:alice@{DOMAIN}>"
    offer = [r for c, r in relay.requests if c == "offer"][-1]
    assert offer.call_id == "c1;xfer1" and offer.from_tag == b_invite.from_.tag  # type: ignore[attr-defined]
    await feed(h, reply_to(new_invite, 200, "newtag", ANSWER, contact="sip:alice@203.0.113.7"), target)  # type: ignore[arg-type]
    assert only(h.take(target), Request, "ACK").to.tag == "newtag"
    to_caller = h.take(CALLER)
    assert only(to_caller, Request, "NOTIFY").body.startswith(b"SIP/2.0 200")
    assert only(to_caller, Request, "BYE").call_id == "c1"
    move = only(h.take(bob), Request, "INVITE")
    assert move.call_id == b_invite.call_id and RELAY_HOST in move.body.decode()
    assert relay.commands("c1") == ["offer", "answer", "delete"]  # the first session is gone
    # bob hangs up: the BYE reaches the new party, and the one record has both sessions' counters.
    await feed(h, in_dialog("BYE", str(b_invite.contacts[0].uri), f"<sip:bob@{DOMAIN}>;tag=bobtag",
                            str(b_invite.headers.get("From")), b_invite.call_id, 3), bob)  # fmt: skip
    assert only(h.take(target), Request, "BYE").call_id == new_invite.call_id
    ended = [e for e in h.cdr.events if isinstance(e, contract.CallEnded)]
    assert len(ended) == 1 and ended[0].disconnected_by == "callee"
    assert {leg.tag for leg in ended[0].media} == {"a", b_invite.from_.tag, new_invite.from_.tag}


async def test_a_caller_behind_a_record_routing_proxy_keeps_it_on_its_route() -> None:
    h, _ = anchored()
    bob = bind(h, "bob", "203.0.113.1")
    edge = "<sip:198.51.100.9;lr>"
    await feed(h, sdp_invite(extra=f"Record-Route: {edge}\r\n"), CALLER)
    b_invite = only(h.take(bob), Request, "INVITE")
    await feed(h, reply_to(b_invite, 200, "bobtag", ANSWER), bob)  # type: ignore[arg-type]
    ok = only(h.take(CALLER), Response, 200)
    assert ok.headers.values("Record-Route") == [edge]
    await feed(h, in_dialog("BYE", str(b_invite.contacts[0].uri), f"<sip:bob@{DOMAIN}>;tag=bobtag",
                            str(b_invite.headers.get("From")), b_invite.call_id, 2), bob)  # fmt: skip
    bye = only(h.take(Peer("UDP", "198.51.100.9", 5060)), Request, "BYE")
    assert bye.headers.values("Route") == [edge] and bye.call_id == "c1"


async def test_an_invite_requiring_an_extension_we_lack_is_proxied() -> None:
    h, relay = anchored()
    bob = bind(h, "bob", "203.0.113.1")
    await feed(h, sdp_invite(extra="Require: 100rel\r\n"), CALLER)
    assert only(h.take(bob), Request, "INVITE").call_id == "c1" and not relay.requests


async def test_early_media_from_one_branch_and_the_answer_from_another() -> None:
    h, relay = anchored()
    phone1, phone2 = bind(h, "bob", "203.0.113.1"), bind(h, "bob", "203.0.113.2")
    await feed(h, sdp_invite(), CALLER)
    inv1 = only(h.take(phone1), Request, "INVITE")
    inv2 = only(h.take(phone2), Request, "INVITE")
    await feed(h, reply_to(inv2, 183, "two", ANSWER), phone2)  # type: ignore[arg-type]
    assert RELAY_HOST in only(h.take(CALLER), Response, 183).body.decode()
    await feed(h, reply_to(inv1, 200, "one", ANSWER.replace("5000", "5002")), phone1)  # type: ignore[arg-type]
    assert RELAY_HOST in only(h.take(CALLER), Response, 200).body.decode()
    answers = [r for c, r in relay.requests if c == "answer"]
    assert len(answers) == 2 and answers[0].to_tag == answers[1].to_tag == inv1.from_.tag  # type: ignore[attr-defined]


async def test_the_caller_chosen_refresher_stands_in_the_2xx() -> None:
    h, _ = anchored()
    bob = bind(h, "bob", "203.0.113.1")
    await feed(h, sdp_invite(extra="Supported: timer\r\nSession-Expires: 600;refresher=uac\r\n"), CALLER)
    b_invite = only(h.take(bob), Request, "INVITE")
    assert b_invite.headers.get("Session-Expires") == "600;refresher=uac"
    await feed(h, reply_to(b_invite, 200, "bobtag", ANSWER), bob)  # type: ignore[arg-type]
    ok = only(h.take(CALLER), Response, 200)
    assert ok.headers.get("Session-Expires") == "600;refresher=uac" and ok.headers.get("Require") == "timer"


async def test_calls_beyond_the_limit_get_503() -> None:
    h, relay = anchored(B2buaConfig(max_calls=1))
    bind(h, "bob", "203.0.113.1")
    await feed(h, sdp_invite("c1"), CALLER)
    await feed(h, sdp_invite("c2"), CALLER)
    busy = only(h.take(CALLER), Response, 503)
    assert busy.call_id == "c2" and busy.headers.get("Retry-After") and relay.commands("c2") == []


async def test_refer_without_one_refer_to_or_to_a_stranger_is_refused() -> None:
    h, _ = anchored()
    b_invite, ok, bob = await answered_call(h)
    h.take()
    base = in_dialog(
        "REFER", str(ok.contacts[0].uri), f"<sip:alice@{DOMAIN}>;tag=a", str(ok.headers.get("To")), "c1", 2
    )
    await feed(h, base, CALLER)
    assert only(h.take(CALLER), Response, 400)
    stranger = base.replace("CSeq: 2", "CSeq: 3").replace("branch=z9hG4bKx", "branch=z9hG4bKy")
    stranger = stranger.replace("Content-Length: 0", "Refer-To: <sip:someone@elsewhere.invalid>\r\nContent-Length: 0")
    await feed(h, stranger, CALLER)
    assert only(h.take(CALLER), Response, 403)
    assert len(h.core.b2bua.calls) == 1  # the call goes on
