"""How call events become one call detail record: merging, classification, billing (no I/O).

A call leg produces up to three events on the stream `CDR`: attempted,
answered, ended. They may arrive more than once (redelivery after a crash)
and in any order (several sip replicas publish, and a consumer's batch may
be redelivered around newer events). `merge()` is therefore written so that
the result depends only on the set of events, not on their order or count:

- every event carries the call's identity (URIs, accounts, start, node); the
  first non-empty value wins and `started_at` is the earliest seen;
- `answered` keeps the earliest answer time;
- `ended` makes the record final: result, SIP code, end time, duration,
  billable seconds, who disconnected, media statistics. A final record never
  changes again, so a late or duplicated event cannot alter what was billed
  (and written to the daily file).

Result classification by the final SIP status of the INVITE (RFC 3261
section 21): a 2xx, or any call that was answered, is `answered`; 486 Busy
Here and 600 Busy Everywhere are `busy`; 408 Request Timeout, 480
Temporarily Unavailable and 487 Request Terminated (the caller hung up
before an answer, CANCEL, RFC 3261 section 9.1) are `no-answer`; everything
else is `failed`, and the code is kept beside the result.

Billing: duration = end - answer for answered calls, else 0; billable
seconds = the duration rounded up to whole seconds (1 ms of talk is 1 s;
0 ms is 0 s).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from libs.contracts import sip as contract

ANSWERED = "answered"
BUSY = "busy"
NO_ANSWER = "no-answer"
FAILED = "failed"
RESULTS = (ANSWERED, BUSY, NO_ANSWER, FAILED)

BUSY_CODES = frozenset({486, 600})
NO_ANSWER_CODES = frozenset({408, 480, 487})

EXPIRED = "expired"  # ended_by of a call closed because its end never arrived
SYSTEM = "system"


def classify(status: int | None, *, answered: bool) -> str:
    if answered or (status is not None and 200 <= status < 300):
        return ANSWERED
    if status in BUSY_CODES:
        return BUSY
    if status in NO_ANSWER_CODES:
        return NO_ANSWER
    return FAILED


def billable_seconds(duration_ms: int) -> int:
    return math.ceil(max(duration_ms, 0) / 1000)


def duration_ms(answered_at: datetime | None, ended_at: datetime) -> int:
    if answered_at is None:
        return 0
    return max(0, round((ended_at - answered_at).total_seconds() * 1000))


def domain_of(account: str | None) -> str | None:
    return account.rsplit("@", 1)[1] if account and "@" in account else None


@dataclass
class Record:
    """The mergeable columns of one `cdrs` row."""

    call_id: str
    leg: str
    from_uri: str
    to_uri: str
    started_at: datetime
    caller: str | None = None
    callee: str | None = None
    caller_domain: str | None = None
    callee_domain: str | None = None
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    duration_ms: int = 0
    billable_seconds: int = 0
    result: str | None = None
    status: int | None = None
    ended_by: str = ""
    disconnected_by: str = ""
    media: list[Any] = field(default_factory=list)
    node: str = ""

    @property
    def final(self) -> bool:
        return self.ended_at is not None

    @property
    def key(self) -> tuple[str, str]:
        return self.call_id, self.leg

    def columns(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_columns(cls, row: Any) -> Record:
        return cls(**{name: getattr(row, name) for name in cls.__dataclass_fields__})


def new_record(event: contract.CallEvent) -> Record:
    """The record as far as this one event tells it (merge the event into it next)."""
    return Record(call_id=event.call_id, leg=event.leg, from_uri=event.from_uri, to_uri=event.to_uri,
                  started_at=event.started_at)  # fmt: skip


def merge(record: Record, event: contract.CallEvent) -> bool:
    """Fold `event` into `record`; True when this made the record final."""
    if record.final:
        return False
    record.from_uri = record.from_uri or event.from_uri
    record.to_uri = record.to_uri or event.to_uri
    record.caller = record.caller or event.caller
    record.callee = record.callee or event.callee
    record.caller_domain = domain_of(record.caller)
    record.callee_domain = domain_of(record.callee)
    record.node = record.node or event.node
    record.started_at = min(record.started_at, event.started_at)
    if isinstance(event, contract.CallAnswered):
        record.answered_at = _earliest(record.answered_at, event.answered_at)
    elif isinstance(event, contract.CallEnded):
        _end(record, event)
        return True
    return False


def _end(record: Record, event: contract.CallEnded) -> None:
    record.answered_at = _earliest(record.answered_at, event.answered_at)
    record.ended_at = event.ended_at
    record.status = event.status
    record.result = classify(event.status, answered=record.answered_at is not None)
    record.duration_ms = duration_ms(record.answered_at, event.ended_at)
    record.billable_seconds = billable_seconds(record.duration_ms)
    record.ended_by = event.ended_by[:16]
    record.disconnected_by = (event.disconnected_by or _implied_side(event.ended_by))[:16]
    record.media = [leg.model_dump(mode="json") for leg in event.media]


def _implied_side(ended_by: str) -> str:
    """Who hung up, when the sip service did not say: a CANCEL is the caller's, a timeout the system's."""
    return {"cancel": "caller", "timeout": SYSTEM}.get(ended_by, "")


def expire(record: Record, now: datetime) -> None:
    """Close a call whose end never arrived (its sip replica died mid-call): failed, not billed.

    The answer time is kept so an operator can see that the call was up."""
    record.ended_at = now
    record.result = FAILED
    record.status = None
    record.duration_ms = 0
    record.billable_seconds = 0
    record.ended_by = EXPIRED
    record.disconnected_by = SYSTEM


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)
