"""Client transactions (RFC 3261 section 17.1, RFC 6026): timer sequences on explicit time."""

import pytest

from services.sip.protocol import (
    Request,
    ResponseReceived,
    State,
    TimerConfig,
    TransactionLayer,
    TransactionTerminated,
    TransactionTimedOut,
    Transmit,
    TransportFailed,
    parse_message,
)
from services.sip.protocol.errors import LocalProtocolError
from tests.sip.messages import reply, request

CONFIG = TimerConfig(t1=0.5, t2=4.0, t4=5.0)


def run_timers(layer: TransactionLayer, until: float) -> list[tuple[float, object]]:
    """Advance to each deadline in turn; return (time, event) for everything that happened."""
    seen: list[tuple[float, object]] = []
    while (deadline := layer.next_deadline()) is not None and deadline <= until:
        seen.extend((deadline, event) for event in layer.advance(deadline))
    return seen


def retransmission_times(seen: list[tuple[float, object]]) -> list[float]:
    return [t for t, e in seen if isinstance(e, Transmit) and e.retransmission]


def start(method: str, *, reliable: bool = False) -> tuple[TransactionLayer, Request, list[object]]:
    layer = TransactionLayer(CONFIG)
    req = request(method)
    events = layer.send_request(req, now=0.0, peer="server", reliable=reliable)
    return layer, req, events


def test_non_invite_over_udp_retransmits_with_e_and_times_out_with_f() -> None:
    layer, _, events = start("OPTIONS")
    assert [type(e) for e in events] == [Transmit]
    assert events[0].peer == "server" and not events[0].retransmission
    seen = run_timers(layer, until=100)
    # E: T1, then doubling up to T2 (0.5, 1, 2, 4, 4, ...); F at 64*T1 = 32.
    assert retransmission_times(seen) == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert [(t, type(e)) for t, e in seen if not isinstance(e, Transmit)] == [
        (32.0, TransactionTimedOut),
        (32.0, TransactionTerminated),
    ]
    assert len(layer) == 0 and layer.next_deadline() is None


def test_non_invite_provisional_moves_to_proceeding_and_e_runs_at_t2() -> None:
    layer, req, _ = start("OPTIONS")
    assert retransmission_times(run_timers(layer, until=1.6)) == [0.5, 1.5]
    (tx,) = [layer.get(k) for k in [("client", "z9hg4bk-1", "OPTIONS")]]
    assert tx is not None
    events = layer.receive(reply(req, 100), now=2.0, peer="server", reliable=False)
    assert [type(e) for e in events] == [ResponseReceived] and tx.state is State.PROCEEDING
    # The E already scheduled (3.5) stays; after it the interval is T2.
    assert retransmission_times(run_timers(layer, until=12)) == [3.5, 7.5, 11.5]
    events = layer.receive(reply(req, 200), now=12.0, peer="server", reliable=False)
    assert [type(e) for e in events] == [ResponseReceived] and tx.state is State.COMPLETED
    assert tx.timer("K") == 12.0 + CONFIG.t4 and tx.timer("E") is None and tx.timer("F") is None
    # Retransmitted finals are absorbed in Completed.
    assert layer.receive(reply(req, 200), now=13.0, peer="server", reliable=False) == []
    seen = run_timers(layer, until=100)
    assert [(t, type(e)) for t, e in seen] == [(17.0, TransactionTerminated)]


def test_non_invite_over_tcp_has_no_retransmissions_and_no_timer_k() -> None:
    layer, req, _ = start("REGISTER", reliable=True)
    tx = layer.get(("client", "z9hg4bk-1", "REGISTER"))
    assert tx is not None and tx.timer("E") is None and tx.timer("F") == 32.0
    events = layer.receive(reply(req, 401), now=0.1, peer="server", reliable=True)
    assert [type(e) for e in events] == [ResponseReceived, TransactionTerminated]
    assert len(layer) == 0


def test_invite_over_udp_retransmits_with_a_and_times_out_with_b() -> None:
    layer, _, _ = start("INVITE")
    seen = run_timers(layer, until=100)
    # A doubles without a cap: 0.5, 1, 2, 4, 8, 16; B at 64*T1 = 32.
    assert retransmission_times(seen) == [0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert [(t, type(e)) for t, e in seen if not isinstance(e, Transmit)] == [
        (32.0, TransactionTimedOut),
        (32.0, TransactionTerminated),
    ]


def test_invite_provisional_stops_a_and_b() -> None:
    layer, req, _ = start("INVITE")
    run_timers(layer, until=0.6)
    events = layer.receive(reply(req, 180), now=1.0, peer="server", reliable=False)
    assert [type(e) for e in events] == [ResponseReceived]
    assert layer.next_deadline() is None  # in Proceeding the TU's timer C governs, not B
    assert run_timers(layer, until=1000) == []


def test_invite_non_2xx_final_is_acked_and_retransmissions_acked_again() -> None:
    layer, req, _ = start("INVITE")
    layer.receive(reply(req, 180), now=0.2, peer="server", reliable=False)
    final = reply(req, 486, to_tag="callee")
    events = layer.receive(final, now=1.0, peer="server", reliable=False)
    assert [type(e) for e in events] == [ResponseReceived, Transmit]
    ack = events[1]
    assert isinstance(ack, Transmit) and isinstance(ack.message, Request)
    # RFC 3261 section 17.1.1.3: same Request-URI, Call-ID, From, CSeq number; To from the
    # response; one Via, the INVITE's top Via.
    parsed = parse_message(ack.data)
    assert isinstance(parsed, Request) and parsed.method == "ACK"
    assert str(parsed.uri) == str(req.uri) and parsed.call_id == req.call_id
    assert parsed.cseq.number == req.cseq.number and parsed.cseq.method == "ACK"
    assert parsed.to.tag == "callee" and parsed.from_.tag == "a1"
    assert [str(v) for v in parsed.vias] == [str(req.vias[0])]
    # A retransmitted 486 is not passed up; the ACK goes out again.
    again = layer.receive(final, now=2.0, peer="server", reliable=False)
    assert [type(e) for e in again] == [Transmit] and again[0].data == ack.data and again[0].retransmission
    seen = run_timers(layer, until=100)
    assert [(t, type(e)) for t, e in seen] == [(33.0, TransactionTerminated)]  # timer D: 32 s


def test_invite_non_2xx_over_tcp_ends_at_once() -> None:
    layer, req, _ = start("INVITE", reliable=True)
    events = layer.receive(reply(req, 603), now=1.0, peer="server", reliable=True)
    assert [type(e) for e in events] == [ResponseReceived, Transmit, TransactionTerminated]


def test_invite_2xx_enters_accepted_and_passes_every_2xx_up() -> None:
    layer, req, _ = start("INVITE")
    tx = layer.get(("client", "z9hg4bk-1", "INVITE"))
    assert tx is not None
    ok = reply(req, 200)
    assert [type(e) for e in layer.receive(ok, now=1.0, peer="server", reliable=False)] == [ResponseReceived]
    assert tx.state is State.ACCEPTED and tx.timer("M") == 33.0 and tx.timer("A") is None
    # RFC 6026: retransmitted 2xx (and 2xx from other forks) still reach the TU, which ACKs them.
    assert [type(e) for e in layer.receive(ok, now=2.0, peer="server", reliable=False)] == [ResponseReceived]
    assert layer.receive(reply(req, 486), now=3.0, peer="server", reliable=False) == []
    seen = run_timers(layer, until=100)
    assert [(t, type(e)) for t, e in seen] == [(33.0, TransactionTerminated)]


def test_transport_error_ends_the_transaction() -> None:
    layer, _, _ = start("INVITE")
    events = layer.transport_error(("client", "z9hg4bk-1", "INVITE"), now=0.1)
    assert [type(e) for e in events] == [TransportFailed, TransactionTerminated]
    assert len(layer) == 0 and layer.next_deadline() is None
    assert layer.transport_error(("client", "z9hg4bk-1", "INVITE"), now=0.2) == []


def test_late_advance_fires_every_due_timer_in_order() -> None:
    layer, _, _ = start("OPTIONS")
    events = layer.advance(5.0)
    assert [e.retransmission for e in events if isinstance(e, Transmit)] == [True, True, True]
    assert layer.next_deadline() == 7.5  # intervals count from the deadlines, not from the late call


def test_responses_for_unknown_transactions_are_stray() -> None:
    layer, req, _ = start("OPTIONS")
    other = reply(request("OPTIONS", branch="z9hG4bK-other"), 200)
    (event,) = layer.receive(other, now=0.1, peer="x", reliable=False)
    assert type(event).__name__ == "StrayResponse"


def test_misuse_is_a_local_error() -> None:
    layer, req, _ = start("OPTIONS")
    with pytest.raises(LocalProtocolError):
        layer.send_request(req, now=0.0, peer="server", reliable=False)  # same branch
    with pytest.raises(LocalProtocolError):
        layer.send_request(request("ACK", branch="z9hG4bK-2"), now=0.0, peer="server", reliable=False)
    with pytest.raises(LocalProtocolError):
        layer.send_request(request("OPTIONS", branch=None), now=0.0, peer="server", reliable=False)
    with pytest.raises(ValueError):
        TimerConfig(t1=5, t2=4)
