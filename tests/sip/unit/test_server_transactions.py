"""Server transactions and matching (RFC 3261 sections 17.2 and 9.2, RFC 6026): absorption and timers."""

import pytest

from services.sip.protocol import (
    AckReceived,
    RequestReceived,
    Response,
    State,
    TimerConfig,
    TransactionLayer,
    TransactionTerminated,
    TransactionTimedOut,
    Transmit,
    TransportFailed,
    response,
    server_key,
)
from services.sip.protocol.errors import LocalProtocolError
from tests.sip.messages import request

CONFIG = TimerConfig(t1=0.5, t2=4.0, t4=5.0)


def run_timers(layer: TransactionLayer, until: float) -> list[tuple[float, object]]:
    seen: list[tuple[float, object]] = []
    while (deadline := layer.next_deadline()) is not None and deadline <= until:
        seen.extend((deadline, event) for event in layer.advance(deadline))
    return seen


def receive_invite(*, reliable: bool = False, auto_trying: bool = True, branch: str | None = "z9hG4bK-1"):
    layer = TransactionLayer(CONFIG, auto_trying=auto_trying)
    invite = request("INVITE", branch=branch)
    events = layer.receive(invite, now=0.0, peer="client", reliable=reliable)
    assert isinstance(events[0], RequestReceived)
    return layer, invite, events[0].key, events[1:]


def sent(events: list) -> list[int]:
    return [e.message.status for e in events if isinstance(e, Transmit) and isinstance(e.message, Response)]


def test_invite_gets_100_trying_and_retransmissions_get_the_last_provisional() -> None:
    layer, invite, key, events = receive_invite()
    assert sent(events) == [100]
    trying = events[0].message
    assert trying.to.tag is None and trying.call_id == invite.call_id
    assert sent(layer.receive(invite, now=0.3, peer="client", reliable=False)) == [100]
    assert sent(layer.send_response(key, response(invite, 180, to_tag="t"), now=1.0)) == [180]
    again = layer.receive(invite, now=1.5, peer="client", reliable=False)
    assert sent(again) == [180] and again[0].retransmission
    assert not any(isinstance(e, RequestReceived) for e in again)


def test_without_auto_trying_nothing_is_sent_until_the_tu_answers() -> None:
    layer, invite, key, events = receive_invite(auto_trying=False)
    assert events == []
    assert layer.receive(invite, now=0.3, peer="client", reliable=False) == []


def test_invite_non_2xx_retransmitted_with_g_until_h() -> None:
    layer, invite, key, _ = receive_invite()
    layer.send_response(key, response(invite, 486, to_tag="t"), now=0.0)
    seen = run_timers(layer, until=100)
    # G: T1 doubling up to T2; H at 64*T1 ends the transaction without ACK.
    assert [t for t, e in seen if isinstance(e, Transmit)] == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5,
                                                                31.5]  # fmt: skip
    assert [(t, type(e)) for t, e in seen if not isinstance(e, Transmit)] == [
        (32.0, TransactionTimedOut),
        (32.0, TransactionTerminated),
    ]


def test_ack_confirms_and_further_acks_and_invites_are_absorbed() -> None:
    layer, invite, key, _ = receive_invite()
    layer.send_response(key, response(invite, 404, to_tag="t"), now=0.0)
    assert sent(layer.receive(invite, now=0.2, peer="client", reliable=False)) == [404]  # retransmitted INVITE
    tx = layer.get(key)
    assert tx is not None
    ack = request("ACK", to_tag="t")  # same branch as the INVITE (non-2xx ACK)
    assert layer.receive(ack, now=1.0, peer="client", reliable=False) == []
    assert tx.state is State.CONFIRMED and tx.timer("G") is None and tx.timer("I") == 1.0 + CONFIG.t4
    assert layer.receive(ack, now=2.0, peer="client", reliable=False) == []
    assert layer.receive(invite, now=2.5, peer="client", reliable=False) == []
    assert [(t, type(e)) for t, e in run_timers(layer, until=100)] == [(6.0, TransactionTerminated)]


def test_invite_non_2xx_over_tcp_has_no_g_and_ends_on_ack() -> None:
    layer, invite, key, _ = receive_invite(reliable=True)
    layer.send_response(key, response(invite, 486, to_tag="t"), now=0.0)
    tx = layer.get(key)
    assert tx is not None and tx.timer("G") is None and tx.timer("H") == 32.0
    events = layer.receive(request("ACK", to_tag="t"), now=0.5, peer="client", reliable=True)
    assert [type(e) for e in events] == [TransactionTerminated]


def test_invite_2xx_enters_accepted() -> None:
    layer, invite, key, _ = receive_invite()
    ok = response(invite, 200, to_tag="t")
    assert sent(layer.send_response(key, ok, now=1.0)) == [200]
    tx = layer.get(key)
    assert tx is not None and tx.state is State.ACCEPTED and tx.timer("L") == 33.0
    # RFC 6026: retransmitted INVITEs are absorbed (the TU retransmits the 2xx itself) ...
    assert layer.receive(invite, now=1.5, peer="client", reliable=False) == []
    assert sent(layer.send_response(key, ok, now=1.5)) == [200]
    # ... and no other final response is allowed any more.
    with pytest.raises(LocalProtocolError):
        layer.send_response(key, response(invite, 486, to_tag="t"), now=2.0)
    # The ACK for the 2xx has a new branch: it is not this transaction's, it goes to the TU.
    (event,) = layer.receive(request("ACK", branch="z9hG4bK-ack", to_tag="t"), now=2.0, peer="c", reliable=False)
    assert isinstance(event, AckReceived) and event.key is None
    assert [(t, type(e)) for t, e in run_timers(layer, until=100)] == [(33.0, TransactionTerminated)]


def test_non_invite_absorbs_retransmissions_in_trying_and_answers_them_after() -> None:
    layer = TransactionLayer(CONFIG)
    options = request("OPTIONS")
    (received,) = layer.receive(options, now=0.0, peer="client", reliable=False)
    assert isinstance(received, RequestReceived)
    assert layer.receive(options, now=0.5, peer="client", reliable=False) == []  # Trying: absorbed
    assert sent(layer.send_response(received.key, response(options, 100), now=0.6)) == [100]
    assert sent(layer.receive(options, now=1.0, peer="client", reliable=False)) == [100]
    assert sent(layer.send_response(received.key, response(options, 200, to_tag="t"), now=1.2)) == [200]
    assert sent(layer.receive(options, now=1.5, peer="client", reliable=False)) == [200]
    with pytest.raises(LocalProtocolError):
        layer.send_response(received.key, response(options, 200, to_tag="t"), now=1.6)
    # Timer J: 64*T1 on UDP.
    assert [(t, type(e)) for t, e in run_timers(layer, until=100)] == [(33.2, TransactionTerminated)]


def test_non_invite_over_tcp_ends_with_the_final_response() -> None:
    layer = TransactionLayer(CONFIG)
    register = request("REGISTER")
    (received,) = layer.receive(register, now=0.0, peer="client", reliable=True)
    events = layer.send_response(received.key, response(register, 200, to_tag="t"), now=0.1)
    assert [type(e) for e in events] == [Transmit, TransactionTerminated]


def test_response_must_belong_to_the_transaction() -> None:
    layer = TransactionLayer(CONFIG)
    options = request("OPTIONS")
    (received,) = layer.receive(options, now=0.0, peer="client", reliable=False)
    with pytest.raises(LocalProtocolError):
        layer.send_response(received.key, response(request("OPTIONS", cseq=2), 200), now=0.1)
    with pytest.raises(LocalProtocolError):
        layer.send_response(("3261", "nope", "x", "OPTIONS"), response(options, 200), now=0.1)


def test_cancel_names_the_invite_it_cancels() -> None:
    layer, invite, key, _ = receive_invite()
    cancel = request("CANCEL")  # same branch, same sent-by (section 9.1)
    events = layer.receive(cancel, now=0.5, peer="client", reliable=False)
    assert isinstance(events[0], RequestReceived) and events[0].invite_key == key and events[0].key != key
    unknown = request("CANCEL", branch="z9hG4bK-unknown")
    assert layer.receive(unknown, now=0.5, peer="client", reliable=False)[0].invite_key is None


def test_same_branch_from_another_sent_by_is_another_transaction() -> None:
    layer, invite, key, _ = receive_invite()
    other = request("INVITE", via_host="elsewhere.example.net")
    events = layer.receive(other, now=0.1, peer="client2", reliable=False)
    assert isinstance(events[0], RequestReceived) and events[0].key != key


def test_rfc2543_matching_without_magic_cookie() -> None:
    layer, invite, key, _ = receive_invite(branch=None)
    assert key[0] == "2543"
    assert sent(layer.receive(request("INVITE", branch=None), now=0.2, peer="client", reliable=False)) == [100]
    layer.send_response(key, response(invite, 486, to_tag="t9"), now=0.5)
    # The ACK carries the To tag of our response; it matches through the alias.
    assert layer.receive(request("ACK", branch=None, to_tag="t9"), now=1.0, peer="c", reliable=False) == []
    tx = layer.get(key)
    assert tx is not None and tx.state is State.CONFIRMED
    # A CANCEL of a 2543 INVITE matches too.
    layer2, invite2, key2, _ = receive_invite(branch=None)
    assert layer2.matching_invite(request("CANCEL", branch=None)) == key2


def test_cookie_alone_is_not_a_transaction_id() -> None:
    # RFC 4475 section 3.2.1 (badbranch): fall back to RFC 2543 matching.
    assert server_key(request("OPTIONS", branch="z9hG4bK"))[0] == "2543"
    assert server_key(request("OPTIONS", branch="z9hG4bKx"))[0] == "3261"


def test_branch_case_does_not_matter() -> None:
    # Tokens compare case-insensitively (RFC 3261 section 7.3.1).
    assert server_key(request("OPTIONS", branch="z9hG4bKAbC")) == server_key(request("OPTIONS", branch="z9hG4bKaBc"))


def test_transport_error_on_a_server_transaction() -> None:
    layer, invite, key, _ = receive_invite()
    layer.send_response(key, response(invite, 500, to_tag="t"), now=0.0)
    events = layer.transport_error(key, now=0.1)
    assert [type(e) for e in events] == [TransportFailed, TransactionTerminated]
    assert layer.next_deadline() is None


def test_many_transactions_share_one_clock() -> None:
    layer = TransactionLayer(CONFIG)
    keys = []
    for n in range(5):
        options = request("OPTIONS", branch=f"z9hG4bK-{n}")
        (received,) = layer.receive(options, now=float(n), peer="c", reliable=False)
        layer.send_response(received.key, response(options, 200, to_tag="t"), now=float(n))
        keys.append(received.key)
    assert layer.next_deadline() == 32.0
    ended = [e.key for t, e in run_timers(layer, until=100) if isinstance(e, TransactionTerminated)]
    assert ended == keys and len(layer) == 0
