"""The subscription state machine of RFC 6665 on explicit time, and watcher authorisation."""

from __future__ import annotations

from services.sip._subscriptions import Dialog, Subscription, SubscriptionTable, SubState, TooBrief, grant_expires
from services.sip._watchers import decide


def sub(state: SubState = SubState.ACTIVE, *, expires_at: float = 1600.0, tag: str = "t1") -> Subscription:
    dialog = Dialog("call-1", tag, "r1", "sip:bob@x", "sip:alice@x", "sip:alice@10.0.0.1:5060")
    return Subscription("presence", None, "alice@x", "bob@x", dialog, "udp:10.0.0.1:5060", expires_at, state)


def test_expires_are_granted_within_bounds() -> None:
    bounds = {"default": 3600, "minimum": 60, "maximum": 7200}
    assert grant_expires(None, **bounds) == 3600
    assert grant_expires(0, **bounds) == 0
    assert grant_expires(30, **bounds) == TooBrief(60)
    assert grant_expires(600, **bounds) == 600
    assert grant_expires(99999, **bounds) == 7200


def test_state_header_counts_down_and_terminates_with_a_reason() -> None:
    s = sub(expires_at=1600.0)
    assert s.state_header(1000.0) == "active;expires=600"
    assert s.state_header(1599.8) == "active;expires=0"
    assert not s.expired(1599.9) and s.expired(1600.0)
    s.terminate("timeout")
    assert s.state_header(1600.0) == "terminated;reason=timeout"
    assert not s.expired(2000.0)  # terminated ones are not expired again


def test_pending_becomes_active_once_and_refresh_moves_the_expiry() -> None:
    s = sub(SubState.PENDING)
    assert s.state_header(1000.0) == "pending;expires=600"
    assert not s.authorised
    assert s.activate() and not s.activate()
    assert s.authorised
    s.refresh(300, now=1500.0)
    assert s.state_header(1500.0) == "active;expires=300"


def test_unsubscribe_is_plain_terminated_and_state_may_still_be_sent() -> None:
    s = sub()
    s.terminate(None)
    assert s.state_header(1000.0) == "terminated"
    assert s.authorised  # the final NOTIFY carries the state the watcher was allowed to see
    pending = sub(SubState.PENDING)
    pending.terminate("timeout")
    assert not pending.authorised


def test_table_finds_by_dialog_and_resource_and_lists_expired() -> None:
    table = SubscriptionTable(limit=2)
    a, b = sub(tag="a", expires_at=1100.0), sub(tag="b", expires_at=2000.0)
    table.add(a)
    table.add(b)
    assert table.full()
    assert table.get("call-1", "a", "r1") is a
    assert table.get("call-1", "a", "other") is None
    assert set(map(id, table.of("presence", "bob@x"))) == {id(a), id(b)}
    assert table.expired(1500.0) == [a]
    table.remove(a)
    table.remove(b)
    assert len(table) == 0 and table.of("presence", "bob@x") == [] and table.resources("presence") == set()


def test_watcher_policy() -> None:
    assert decide("bob@x", "bob@x", {}) == "active"
    assert decide("alice@x", "bob@x", {}) == "active"  # same domain
    assert decide("eve@y", "bob@x", {}) == "pending"  # another of our domains: needs consent
    assert decide("eve@y", "bob@x", {"presence": {"allow": ["eve@y"]}}) == "active"
    assert decide("eve@y", "bob@x", {"presence": {"allow": ["@Y"]}}) == "active"
    assert decide("alice@x", "bob@x", {"presence": {"block": ["sip:alice@x"]}}) == "rejected"
    assert decide("eve@y", "bob@x", {"presence": {"allow": ["@y"], "block": ["eve@y"]}}) == "rejected"
    assert decide("eve@y", "bob@x", {"presence": "nonsense"}) == "pending"
    assert decide("eve@y", "bob@x", {"presence": {"allow": [42, None]}}) == "pending"
