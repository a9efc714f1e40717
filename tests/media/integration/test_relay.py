"""The native relay with real UDP sockets on loopback, driven through the session manager."""

from __future__ import annotations

import random
import socket
import time

import pytest

from libs.contracts import media as contract
from libs.contracts.errors import BadRequest, NotFound, Unavailable
from services.media._relay import Relay
from services.media._sessions import SessionManager
from tests.media.conftest import make_manager
from tests.media.rtp import Phone, media_port, rtp_packet, sdp

CALL = "call-1@test"


def connect(
    manager: SessionManager, phones: list[Phone], *, a_sdp_address: str = "127.0.0.1", a_sdp_port: int | None = None
) -> tuple[Phone, Phone, int, int]:
    """Set up a call between two new phones; returns them and the relay ports each sends to."""
    a, b = Phone(), Phone()
    phones += [a, b]
    offer = manager.offer(
        contract.OfferRequest(
            call_id=CALL,
            from_tag="fa",
            sdp=sdp(a_sdp_port or a.port, a_sdp_address),
            received_from="127.0.0.1",
        )
    )
    answer = manager.answer(
        contract.AnswerRequest(call_id=CALL, from_tag="fa", to_tag="tb", sdp=sdp(b.port), received_from="127.0.0.1")
    )
    return a, b, media_port(answer.sdp), media_port(offer.sdp)


def leg_stats(manager: SessionManager, tag: str) -> contract.LegStats:
    stats = manager.query(contract.SessionRef(call_id=CALL)).stats
    return next(leg for leg in stats.legs if leg.tag == tag)


def test_two_way_relay_with_symmetric_source(manager: SessionManager, phones: list[Phone]) -> None:
    a, b, a_relay, b_relay = connect(manager, phones)
    a.send(a_relay, 20)
    got = b.receive(20)
    assert len(got) == 20
    assert {src for _, src in got} == {("127.0.0.1", b_relay)}  # B hears the relay from the port it sends to
    assert got[0][0] == rtp_packet(a.seq - 20, a.ts - 20 * 160, a.ssrc)  # byte for byte
    b.send(b_relay, 15)
    back = a.receive(15)
    assert len(back) == 15
    assert {src for _, src in back} == {("127.0.0.1", a_relay)}
    caller, callee = leg_stats(manager, "fa"), leg_stats(manager, "tb")
    assert (caller.rtp.packets, caller.rtp.bytes, caller.rtp.lost) == (20, 20 * 172, 0)
    assert caller.latched and caller.endpoint == f"127.0.0.1:{a.port}"
    assert callee.rtp.packets == 15 and callee.local_port == b_relay


def test_phone_behind_nat_is_latched_from_its_packets(manager: SessionManager, phones: list[Phone]) -> None:
    # A advertises a private address and a port it does not send from (a NAT rewrote both).
    a, b, a_relay, b_relay = connect(manager, phones, a_sdp_address="192.168.1.50", a_sdp_port=4000)
    assert not leg_stats(manager, "fa").latched
    b.send(b_relay, 5)
    assert a.receive(1, timeout=0.5) == []  # sent to 127.0.0.1:4000, where nobody listens
    a.send(a_relay, 5)
    assert len(b.receive(5)) == 5
    b.send(b_relay, 5)
    assert len(a.receive(5)) == 5  # now to where A's packets came from
    caller = leg_stats(manager, "fa")
    assert caller.latched and caller.endpoint == f"127.0.0.1:{a.port}"


def test_foreign_source_after_latching_is_dropped(manager: SessionManager, phones: list[Phone]) -> None:
    a, b, a_relay, _ = connect(manager, phones)
    a.send(a_relay, 3)
    assert len(b.receive(3)) == 3
    intruder = Phone()
    phones.append(intruder)
    intruder.send(a_relay, 10)
    assert b.drain() == 0  # no RTP bleed
    assert leg_stats(manager, "fa").rtp.foreign == 10
    a.send(a_relay, 2)
    assert len(b.receive(2)) == 2
    assert leg_stats(manager, "fa").endpoint == f"127.0.0.1:{a.port}"


def test_source_with_another_ip_cannot_latch_first(manager: SessionManager, phones: list[Phone]) -> None:
    a, b, a_relay, b_relay = connect(manager, phones)
    attacker = Phone("127.0.0.2")  # SDP and signalling say 127.0.0.1
    phones.append(attacker)
    attacker.send(a_relay, 5)
    b.send(b_relay, 3)
    assert b.drain() == 0 and attacker.drain() == 0
    assert leg_stats(manager, "fa").rtp.foreign == 5
    a.send(a_relay, 2)
    assert len(b.receive(2)) == 2


def test_relatch_only_after_silence_and_with_the_same_ssrc(relay: Relay, phones: list[Phone]) -> None:
    manager = make_manager(relay, relatch_ms=1000)
    try:
        a, b, a_relay, b_relay = connect(manager, phones)
        a.send(a_relay, 3)
        assert len(b.receive(3)) == 3
        moved = Phone("127.0.0.2")  # the NAT gave A a new address; same stream (SSRC) continues
        phones.append(moved)
        moved.ssrc, moved.seq, moved.ts = a.ssrc, a.seq, a.ts
        moved.send(a_relay, 2)  # too soon: A's latched source spoke a moment ago
        assert b.drain(0.2) == 0
        time.sleep(1.1)
        stranger = Phone("127.0.0.3")  # silent long enough, but neither A's IP nor A's SSRC
        phones.append(stranger)
        stranger.send(a_relay, 2)
        assert b.drain(0.2) == 0
        time.sleep(1.1)
        moved.send(a_relay, 2)
        assert len(b.receive(2)) == 2
        b.send(b_relay, 2)
        assert len(moved.receive(2)) == 2 and a.drain(0.2) == 0
        assert leg_stats(manager, "fa").rtp.foreign == 4
    finally:
        manager.close()


def test_malformed_packets_are_counted_and_dropped(manager: SessionManager, phones: list[Phone]) -> None:
    a, b, a_relay, _ = connect(manager, phones)
    junk = [b"", b"\x80", b"short", b"\x40" + b"\x00" * 20, b"\x00" * 12, b"\xc0" * 11, b"x" * 3000]
    for data in junk:
        a.send_raw(a_relay, data)
    a.send_raw(a_relay + 1, b"\x80\xc8")  # RTCP shorter than its 8-octet header
    assert b.drain() == 0
    caller = leg_stats(manager, "fa")
    assert caller.rtp.malformed == len(junk) and caller.rtp.packets == 0
    assert caller.rtcp.malformed == 1
    a.send(a_relay, 3)
    assert len(b.receive(3)) == 3  # the relay is still alive and relaying


def test_rtcp_is_relayed_on_the_port_the_sdp_names(manager: SessionManager, phones: list[Phone]) -> None:
    a, b = Phone(), Phone()
    rtcp_a, rtcp_b = Phone(), Phone()
    phones += [a, b, rtcp_a, rtcp_b]
    offer_sdp = sdp(a.port) + f"a=rtcp:{rtcp_a.port}\r\n"  # RFC 3605
    answer_sdp = sdp(b.port) + f"a=rtcp:{rtcp_b.port} IN IP4 127.0.0.1\r\n"
    offer = manager.offer(contract.OfferRequest(call_id=CALL, from_tag="fa", sdp=offer_sdp))
    answer = manager.answer(contract.AnswerRequest(call_id=CALL, from_tag="fa", to_tag="tb", sdp=answer_sdp))
    a_relay, b_relay = media_port(answer.sdp), media_port(offer.sdp)
    assert f"a=rtcp:{a_relay + 1} IN IP4 127.0.0.1" in answer.sdp and f"a=rtcp:{b_relay + 1}\r\n" in offer.sdp
    report = bytes([0x80, 200, 0, 6]) + b"\x00" * 24  # an empty sender report
    rtcp_a.send_raw(a_relay + 1, report)
    got = rtcp_b.receive(1)
    assert got == [(report, ("127.0.0.1", b_relay + 1))]
    rtcp_b.send_raw(b_relay + 1, report)
    assert rtcp_a.receive(1) == [(report, ("127.0.0.1", a_relay + 1))]
    assert leg_stats(manager, "fa").rtcp.packets == 1


def test_loss_and_jitter_follow_rfc3550(manager: SessionManager, phones: list[Phone]) -> None:
    a, b, a_relay, _ = connect(manager, phones)
    sent = [i for i in range(40) if i not in (3, 5)]  # two packets lost on the way
    for i in sent:  # back to back, while the timestamps say 20 ms apart
        a.send_raw(a_relay, rtp_packet(100 + i, 160 * i, 7))
    assert len(b.receive(len(sent))) == len(sent)
    caller = leg_stats(manager, "fa")
    assert caller.rtp.lost == 2
    # RFC 3550 A.8 with (almost) no arrival spread: each D is the timestamp step in ms.
    jitter = 0.0
    for previous, current in zip(sent, sent[1:], strict=False):
        jitter += (20.0 * (current - previous) - jitter) / 16
    assert abs(caller.rtp.jitter_ms - jitter) < 3.0, (caller.rtp.jitter_ms, jitter)


def test_media_stops_at_delete_and_ports_are_free(manager: SessionManager, phones: list[Phone]) -> None:
    a, b, a_relay, b_relay = connect(manager, phones)
    a.send(a_relay, 5)
    assert len(b.receive(5)) == 5
    started = time.monotonic()
    reply = manager.delete(contract.SessionRef(call_id=CALL, from_tag="fa"))
    assert time.monotonic() - started < 2.0
    assert next(leg for leg in reply.stats.legs if leg.tag == "fa").rtp.packets == 5
    a.send(a_relay, 5)
    assert b.drain(0.5) == 0
    assert manager.ports.in_use == 0
    for port in (a_relay, a_relay + 1, b_relay, b_relay + 1):
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        probe.bind(("127.0.0.1", port))  # the relay closed its sockets
        probe.close()
    with pytest.raises(NotFound):
        manager.query(contract.SessionRef(call_id=CALL))


def test_inactive_session_is_reaped_and_frees_its_ports(manager: SessionManager, phones: list[Phone]) -> None:
    a, b, a_relay, _ = connect(manager, phones)
    a.send(a_relay, 2)
    assert len(b.receive(2)) == 2
    assert manager.reap_idle(timeout=5.0) == []
    time.sleep(0.6)
    assert manager.reap_idle(timeout=0.5) == [CALL]
    assert len(manager) == 0 and manager.ports.in_use == 0
    a.send(a_relay, 2)
    assert b.drain(0.3) == 0


def test_port_exhaustion_is_unavailable_and_leaks_nothing(relay: Relay, phones: list[Phone]) -> None:
    manager = make_manager(relay, pairs=3)
    try:
        manager.offer(contract.OfferRequest(call_id="one", from_tag="a", sdp=sdp(4000)))
        assert manager.ports.in_use == 2
        with pytest.raises(Unavailable):
            manager.offer(contract.OfferRequest(call_id="two", from_tag="a", sdp=sdp(4002)))
        assert manager.ports.in_use == 2 and len(manager) == 1  # the half-made session gave its pair back
        manager.delete(contract.SessionRef(call_id="one"))
        manager.offer(contract.OfferRequest(call_id="two", from_tag="a", sdp=sdp(4002)))
    finally:
        manager.close()


def test_reoffer_keeps_ports_and_bad_requests_are_refused(manager: SessionManager, phones: list[Phone]) -> None:
    a, b, a_relay, b_relay = connect(manager, phones)
    again = manager.offer(contract.OfferRequest(call_id=CALL, from_tag="fa", to_tag="tb", sdp=sdp(a.port)))
    assert media_port(again.sdp) == b_relay
    callee_reinvite = manager.offer(contract.OfferRequest(call_id=CALL, from_tag="tb", to_tag="fa", sdp=sdp(b.port)))
    assert media_port(callee_reinvite.sdp) == a_relay
    with pytest.raises(BadRequest):
        manager.offer(contract.OfferRequest(call_id=CALL, from_tag="fa", sdp="not sdp"))
    with pytest.raises(BadRequest):
        manager.offer(contract.OfferRequest(call_id=CALL, from_tag="stranger", sdp=sdp(a.port)))
    with pytest.raises(NotFound):
        manager.answer(contract.AnswerRequest(call_id="nope", from_tag="x", to_tag="y", sdp=sdp(1)))
    assert manager.ports.in_use == 2


def test_record_and_play_in_the_native_thread(manager: SessionManager, relay: Relay, phones: list[Phone]) -> None:
    a, b, a_relay, _ = connect(manager, phones)
    session = manager.get(CALL)
    caller_leg = session.a.streams[0].rtp
    relay.record(caller_leg, True)
    frames = [bytes([i]) * 160 for i in range(4)]
    for frame in frames:
        a.send(a_relay, payload=frame)
    assert len(b.receive(4)) == 4
    assert relay.record(caller_leg, False) == b"".join(frames)
    relay.play(caller_leg, b"\x01" * 400, 8)  # 2.5 frames of PCMA to A
    started = time.monotonic()
    got = a.receive(3)
    elapsed = time.monotonic() - started
    assert [len(data) - 12 for data, _ in got] == [160, 160, 80]
    assert got[0][0][1] == 0x80 | 8 and got[1][0][1] == 8  # marker on the first, payload type 8
    assert elapsed >= 0.03  # paced at 20 ms per frame
    assert not relay.playing(caller_leg)


def test_random_datagrams_never_break_the_relay(manager: SessionManager, phones: list[Phone]) -> None:
    a, b, a_relay, _ = connect(manager, phones)
    a.send(a_relay, 1)  # latch, so every datagram below is judged only on its content
    assert len(b.receive(1)) == 1
    rng = random.Random(3550)
    sent = 0
    for _ in range(20):
        for _ in range(25):
            size = rng.choice([0, 1, 7, 11, 12, 13, 40, 172, 1500, 2047, 2048, 2049, 4000])
            data = bytes(rng.getrandbits(8) for _ in range(size))
            if rng.random() < 0.5 and data:
                data = bytes([0x80 | (data[0] & 0x3F)]) + data[1:]  # version 2: header checks decide
            a.send_raw(a_relay, data)
            sent += 1
        b.drain(0.02)
    b.drain(0.3)
    caller = leg_stats(manager, "fa")
    assert caller.rtp.malformed + caller.rtp.packets - 1 == sent
    assert caller.rtp.malformed > 0 and caller.rtp.foreign == 0
    a.send(a_relay, 3)
    assert len(b.receive(3)) == 3


def test_sessions_are_spread_over_several_relay_threads(relay: Relay, phones: list[Phone]) -> None:
    second = Relay()
    second.start()
    manager = make_manager(relay)
    manager.relays.append(second)
    try:
        calls = []
        for n in range(2):
            a, b = Phone(), Phone()
            phones += [a, b]
            offer = manager.offer(contract.OfferRequest(call_id=f"spread-{n}", from_tag="fa", sdp=sdp(a.port)))
            answer = manager.answer(
                contract.AnswerRequest(call_id=f"spread-{n}", from_tag="fa", to_tag="tb", sdp=sdp(b.port))
            )
            calls.append((a, b, media_port(answer.sdp), media_port(offer.sdp)))
        assert manager.get("spread-0").relay is not manager.get("spread-1").relay
        for a, b, a_relay, b_relay in calls:
            a.send(a_relay, 5)
            b.send(b_relay, 5)
            assert len(b.receive(5)) == 5 and len(a.receive(5)) == 5
    finally:
        manager.close()
        second.close()


def test_reoffer_keeps_a_latch_unless_the_endpoint_moved(manager: SessionManager, phones: list[Phone]) -> None:
    a, b, a_relay, _ = connect(manager, phones, a_sdp_address="192.168.1.50", a_sdp_port=4000)
    a.send(a_relay, 2)
    assert len(b.receive(2)) == 2 and leg_stats(manager, "fa").latched
    same = contract.OfferRequest(
        call_id=CALL, from_tag="fa", to_tag="tb", sdp=sdp(4000, "192.168.1.50"), received_from="127.0.0.1"
    )
    manager.offer(same)  # a re-INVITE repeating the private address: the NAT mapping still holds
    assert leg_stats(manager, "fa").latched
    moved = contract.OfferRequest(
        call_id=CALL, from_tag="fa", to_tag="tb", sdp=sdp(4010, "192.168.1.50"), received_from="127.0.0.1"
    )
    manager.offer(moved)
    caller = leg_stats(manager, "fa")
    assert not caller.latched and caller.endpoint == "127.0.0.1:4010"


def test_rtcp_multiplexed_on_the_rtp_port_is_relayed_apart(manager: SessionManager, phones: list[Phone]) -> None:
    a, b, a_relay, _ = connect(manager, phones)
    a.send(a_relay, 3)
    receiver_report = bytes([0x80, 201, 0, 1]) + a.ssrc.to_bytes(4, "big")  # 8 octets (RFC 3550 6.4.2)
    a.send_raw(a_relay, receiver_report)  # rtcp-mux (RFC 5761): RTCP on the RTP port
    a.send(a_relay, 3)
    got = [data for data, _ in b.receive(7)]
    assert len(got) == 7 and receiver_report in got
    caller = leg_stats(manager, "fa")
    assert (caller.rtp.packets, caller.rtp.malformed, caller.rtp.lost) == (7, 0, 0)
