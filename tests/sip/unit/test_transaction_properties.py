"""Random traffic through the transaction layer: nothing but LocalProtocolError escapes, and
once time runs on, only transactions waiting for their TU are left."""

import os

from hypothesis import given, settings
from hypothesis import strategies as st

from services.sip.protocol import (
    InviteClientTransaction,
    InviteServerTransaction,
    LocalProtocolError,
    NonInviteServerTransaction,
    RequestReceived,
    State,
    TimerConfig,
    TransactionLayer,
    TransactionTerminated,
    Transmit,
    response,
)
from tests.sip.messages import reply, request

METHODS = ["INVITE", "OPTIONS", "CANCEL", "ACK", "BYE"]
BRANCHES = ["z9hG4bK-a", "z9hG4bK-b", "z9hG4bK", None]
STATUSES = [100, 180, 200, 202, 302, 404, 486, 500, 603]

operations = st.lists(
    st.one_of(
        st.tuples(st.just("receive"), st.sampled_from(METHODS), st.sampled_from(BRANCHES), st.booleans()),
        st.tuples(st.just("send"), st.sampled_from(["INVITE", "OPTIONS", "BYE"]), st.sampled_from(BRANCHES[:2]),
                  st.booleans()),
        st.tuples(st.just("answer"), st.integers(0, 10), st.sampled_from(STATUSES), st.just(False)),
        st.tuples(st.just("response"), st.sampled_from(["INVITE", "OPTIONS", "BYE"]), st.sampled_from(STATUSES),
                  st.sampled_from(BRANCHES[:2])),
        st.tuples(st.just("wait"), st.floats(0, 40), st.just(0), st.just(False)),
        st.tuples(st.just("fail"), st.integers(0, 10), st.just(0), st.just(False)),
    ),
    max_size=40,
)  # fmt: skip


@settings(deadline=None, max_examples=int(os.environ.get("SIP_FUZZ_EXAMPLES", "300")))
@given(operations)
def test_random_traffic(ops: list[tuple]) -> None:
    layer = TransactionLayer(TimerConfig())
    now = 0.0
    server_keys: list = []
    live: set = set()

    def track(events: list) -> None:
        for event in events:
            if isinstance(event, RequestReceived):
                server_keys.append(event.key)
                live.add(event.key)
            elif isinstance(event, TransactionTerminated):
                assert event.key in live or event.key[0] == "client"
                live.discard(event.key)
            elif isinstance(event, Transmit):
                assert event.data.startswith((b"SIP/2.0 ", b"INVITE ", b"OPTIONS ", b"BYE ", b"ACK "))

    for op, a, b, c in ops:
        if op == "receive":
            track(layer.receive(request(a, branch=b, to_tag="t" if c else None), now=now, peer="p", reliable=c))
        elif op == "send":
            try:
                track(layer.send_request(request(a, branch=b), now=now, peer="q", reliable=c))
            except LocalProtocolError:
                pass
        elif op == "answer" and server_keys:
            key = server_keys[a % len(server_keys)]
            tx = layer.get(key)
            if tx is not None:
                try:
                    track(layer.send_response(key, response(tx.request, b, to_tag="t"), now=now))
                except LocalProtocolError:
                    pass
        elif op == "response":
            track(layer.receive(reply(request(a, branch=c), b), now=now, peer="q", reliable=False))
        elif op == "wait":
            now += a
            track(layer.advance(now))
        elif op == "fail" and server_keys:
            track(layer.transport_error(server_keys[a % len(server_keys)], now=now))
        deadline = layer.next_deadline()
        assert deadline is None or deadline > now  # every due timer fired at the last advance
    track(layer.advance(now + 10_000))
    assert layer.next_deadline() is None
    clients = [("client", b, m) for b in ("z9hg4bk-a", "z9hg4bk-b") for m in ("INVITE", "OPTIONS", "BYE")]
    for key in list(live) + clients:
        tx = layer.get(key)
        if tx is None:
            continue
        # What is left waits for its TU: a final response to send, or (UAC) a CANCEL to decide.
        if isinstance(tx, InviteClientTransaction):
            assert tx.state is State.PROCEEDING
        elif isinstance(tx, InviteServerTransaction):
            assert tx.state is State.PROCEEDING
        else:
            assert isinstance(tx, NonInviteServerTransaction) and tx.state in (State.TRYING, State.PROCEEDING)
