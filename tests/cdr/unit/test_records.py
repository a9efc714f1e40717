"""Merging call events into one record, result classification and billing (services/cdr/_records.py)."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest

from libs.contracts import media
from libs.contracts import sip as contract
from services.cdr._records import (
    ANSWERED,
    BUSY,
    FAILED,
    NO_ANSWER,
    Record,
    billable_seconds,
    classify,
    expire,
    merge,
    new_record,
)
from tests.cdr.events import T0, call_events


def merged(events: list[contract.CallEvent]) -> tuple[Record, list[bool]]:
    record = new_record(events[0])
    return record, [merge(record, event) for event in events]


@pytest.mark.parametrize(
    ("status", "answered", "result"),
    [
        (200, True, ANSWERED),
        (202, False, ANSWERED),
        (486, False, BUSY),
        (600, False, BUSY),
        (408, False, NO_ANSWER),
        (480, False, NO_ANSWER),
        (487, False, NO_ANSWER),
        (404, False, FAILED),
        (503, False, FAILED),
        (603, False, FAILED),
        (487, True, ANSWERED),
    ],
)
def test_classification(status: int, answered: bool, result: str) -> None:
    assert classify(status, answered=answered) == result


@pytest.mark.parametrize(("ms", "seconds"), [(0, 0), (1, 1), (999, 1), (1000, 1), (1001, 2), (5000, 5), (5001, 6)])
def test_billable_seconds_round_up(ms: int, seconds: int) -> None:
    assert billable_seconds(ms) == seconds


def test_answered_call_in_order() -> None:
    attempted, answered, ended = call_events("c1", talk=5.25)
    assert answered is not None
    record, finals = merged([attempted, answered, ended])
    assert finals == [False, False, True]
    assert record.result == ANSWERED and record.status == 200
    assert record.answered_at == T0 + timedelta(seconds=2)
    assert record.duration_ms == 5250 and record.billable_seconds == 6
    assert record.caller_domain == "example.test" and record.callee_domain == "example.test"
    assert record.disconnected_by == "caller" and record.ended_by == "bye"


def test_every_order_and_duplicates_give_the_same_record() -> None:
    attempted, answered, ended = call_events("c2", talk=3.0)
    assert answered is not None
    expected, _ = merged([attempted, answered, ended])
    for order in itertools.permutations([attempted, answered, ended, answered, attempted]):
        record, finals = merged(list(order))
        assert record == expected, order
        assert finals.count(True) == 1, "a record becomes final exactly once"


def test_a_final_record_never_changes() -> None:
    attempted, answered, ended = call_events("c3", talk=4.0)
    assert answered is not None
    record, _ = merged([attempted, ended])
    before = record.columns()
    late = ended.model_copy(update={"ended_at": ended.ended_at + timedelta(seconds=60)})
    assert merge(record, late) is False
    assert merge(record, answered) is False
    assert record.columns() == before


@pytest.mark.parametrize(("status", "result"), [(486, BUSY), (487, NO_ANSWER), (404, FAILED)])
def test_unanswered_calls_are_not_billed(status: int, result: str) -> None:
    attempted, answered, ended = call_events("c4", talk=None, status=status, ended_by="cancel")
    assert answered is None
    record, _ = merged([attempted, ended])
    assert (record.result, record.status, record.duration_ms, record.billable_seconds) == (result, status, 0, 0)
    assert record.disconnected_by == "caller"  # implied by the CANCEL


def test_media_statistics_are_kept() -> None:
    attempted, _, ended = call_events("c5", talk=1.0)
    stats = media.LegStats(tag="t1", local_port=20000, rtp=media.StreamCounters(packets=50, bytes=8000, lost=1))
    record, _ = merged([attempted, ended.model_copy(update={"media": [stats]})])
    assert record.media[0]["rtp"]["packets"] == 50 and record.media[0]["rtp"]["lost"] == 1


def test_an_expired_call_is_failed_and_not_billed() -> None:
    attempted, answered, _ = call_events("c6")
    assert answered is not None
    record, _ = merged([attempted, answered])
    expire(record, T0 + timedelta(days=1))
    assert record.final and record.result == FAILED and record.status is None
    assert record.billable_seconds == 0 and record.ended_by == "expired" and record.disconnected_by == "system"
    assert record.answered_at is not None
