"""Call events as the sip service publishes them, for the cdr tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from libs.contracts import sip as contract

T0 = datetime(2026, 11, 26, 10, 0, 0, tzinfo=UTC)


def call_events(
    call_id: str,
    *,
    caller: str | None = "alice@example.test",
    callee: str | None = "bob@example.test",
    start: datetime = T0,
    ring: float = 2.0,
    talk: float | None = 5.0,
    status: int = 200,
    leg: str = "a",
    ended_by: str = "",
) -> tuple[contract.CallAttempted, contract.CallAnswered | None, contract.CallEnded]:
    """(attempted, answered or None, ended) of one call: answered after `ring` s for `talk` s, or refused."""
    common = {
        "call_id": call_id, "from_uri": f"sip:{caller or 'anon'}", "to_uri": f"sip:{callee or 'someone@far.test'}",
        "caller": caller, "callee": callee, "started_at": start, "node": "sip1", "leg": leg,
    }  # fmt: skip
    attempted = contract.CallAttempted(**common)
    if talk is None:
        ended = contract.CallEnded(**common, ended_at=start + timedelta(seconds=ring), status=status,
                                   ended_by=ended_by or "error")  # fmt: skip
        return attempted, None, ended
    answered_at = start + timedelta(seconds=ring)
    answered = contract.CallAnswered(**common, answered_at=answered_at, status=status)
    ended = contract.CallEnded(**common, answered_at=answered_at, ended_at=answered_at + timedelta(seconds=talk),
                               status=status, ended_by=ended_by or "bye", disconnected_by="caller")  # fmt: skip
    return attempted, answered, ended
