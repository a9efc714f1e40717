"""The real cdr process consuming the stream `CDR` of a real nats-server: one row per call leg,
whatever the duplicates, the order, or a kill -9 in the middle of the stream."""

from __future__ import annotations

import asyncio
import random
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import nats

from libs.contracts import sip as contract
from libs.contracts.base import dead_letter_subject
from tests.cdr.conftest import CdrSuite, start_cdr
from tests.cdr.events import T0, call_events


def prefix() -> str:
    return f"t{uuid.uuid4().hex[:8]}-"


async def test_one_call_makes_one_final_row_and_one_file_line(cdr_suite: CdrSuite) -> None:
    p = prefix()
    attempted, answered, ended = call_events(f"{p}1", talk=5.0)
    assert answered is not None
    await cdr_suite.publish([attempted, answered, ended])
    rows = await cdr_suite.wait_final(p, 1)
    assert len(rows) == 1
    row = rows[0]
    assert (row["result"], row["status"], row["duration_ms"], row["billable_seconds"]) == ("answered", 200, 5000, 5)
    assert (row["caller"], row["callee"], row["node"], row["leg"]) == ("alice@example.test", "bob@example.test",
                                                                       "sip1", "a")  # fmt: skip
    lines = cdr_suite.file_lines(p)
    assert len(lines) == 1 and "\tanswered\t200\t" in lines[0]


async def test_duplicates_and_reordering_still_make_one_row(cdr_suite: CdrSuite) -> None:
    p = prefix()
    events: list[contract.CallEvent] = []
    for i in range(20):
        attempted, answered, ended = call_events(f"{p}{i}", start=T0 + timedelta(seconds=i), talk=1.5,
                                                 leg="a" if i % 2 else "b")  # fmt: skip
        assert answered is not None
        events += [ended, answered, attempted, ended, answered]  # end first, then everything again
    random.Random(7).shuffle(events)
    await cdr_suite.publish(events)
    rows = await cdr_suite.wait_final(p, 20)
    assert len(rows) == 20
    assert {(r["result"], r["duration_ms"], r["billable_seconds"]) for r in rows} == {("answered", 1500, 2)}
    assert len(cdr_suite.file_lines(p)) == 20


async def test_a_call_without_answer_and_an_open_call(cdr_suite: CdrSuite) -> None:
    p = prefix()
    busy_attempt, _, busy_end = call_events(f"{p}busy", talk=None, status=486)
    open_attempt, open_answer, _ = call_events(f"{p}open")
    assert open_answer is not None
    await cdr_suite.publish([busy_attempt, busy_end, open_attempt, open_answer])
    rows = await cdr_suite.wait_final(p, 1)
    for _ in range(50):  # the open call's events come in the same stream; give them their turn
        if len(rows) == 2:
            break
        await asyncio.sleep(0.1)
        rows = await cdr_suite.rows(p)
    by_id = {row["call_id"]: row for row in rows}
    assert by_id[f"{p}busy"]["result"] == "busy" and by_id[f"{p}busy"]["billable_seconds"] == 0
    assert by_id[f"{p}open"]["ended_at"] is None and by_id[f"{p}open"]["result"] is None
    assert [line.split("\t")[0] for line in cdr_suite.file_lines(p)] == [f"{p}busy"]


async def test_kill_9_mid_stream_loses_and_doubles_nothing(cdr_suite: CdrSuite) -> None:
    p = prefix()
    calls = 400
    events: list[contract.CallEvent] = []
    for i in range(calls):
        attempted, answered, ended = call_events(f"{p}{i:04d}", start=T0 + timedelta(seconds=i), talk=i % 7)
        assert answered is not None
        events += [attempted, answered, ended]
    publishing = asyncio.create_task(cdr_suite.publish(events))
    try:
        for _ in range(600):  # until the cdr process is part-way through
            if len(cdr_suite.file_lines(p)) >= 40:
                break
            await asyncio.sleep(0.05)
        cdr_suite.cdr.kill()
        done_before = len(cdr_suite.file_lines(p))
        assert 0 < done_before < calls, "the kill did not land mid-stream"
        await publishing
    finally:
        if cdr_suite.cdr.process is None or cdr_suite.cdr.process.poll() is not None:
            cdr_suite.cdr.start()
    rows = await cdr_suite.wait_final(p, calls, timeout=120)
    assert len(rows) == calls
    assert all(row["ended_at"] is not None and row["filed"] for row in rows)
    assert sorted(row["billable_seconds"] for row in rows) == sorted(i % 7 for i in range(calls))
    lines = cdr_suite.file_lines(p)
    keys = [tuple(line.split("\t")[:2]) for line in lines]
    assert len(keys) == calls and len(set(keys)) == calls, "every call exactly once in the daily file"


async def test_a_call_whose_end_never_comes_is_closed_as_failed(cdr_suite: CdrSuite, tmp_path: Path) -> None:
    """A second cdr process (own consumer, own database and files) with a 1 s open-call timeout."""
    p = prefix()
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'sweep.sqlite3'}"
    sweeper, _ = start_cdr(tmp_path / "data", cdr_suite.nats.url, database_url, tmp_path / "files",
                           PARLEY_CDR_CONSUMER="cdr-sweep-test", PARLEY_CDR_OPEN_CALL_TIMEOUT="1",
                           PARLEY_CDR_SWEEP_INTERVAL="0.2", PARLEY_NODE_NAME="sweeper")  # fmt: skip
    try:
        attempted, answered, _ = call_events(f"{p}vanished", start=datetime.now(UTC))
        assert answered is not None
        await cdr_suite.publish([attempted, answered])
        other = replace(cdr_suite, database_url=database_url, file_dir=tmp_path / "files")
        rows = await other.wait_final(p, 1, timeout=30)
    finally:
        sweeper.stop()
    assert len(rows) == 1
    row = rows[0]
    assert (row["result"], row["status"], row["ended_by"], row["disconnected_by"]) == ("failed", None, "expired",
                                                                                         "system")  # fmt: skip
    assert row["answered_at"] is not None and row["billable_seconds"] == 0
    lines = other.file_lines(p)
    assert len(lines) == 1 and "\tfailed\t\tsystem\texpired\t" in lines[0]


async def test_an_invalid_event_goes_to_the_dead_letter_subject_and_the_stream_goes_on(cdr_suite: CdrSuite) -> None:
    p = prefix()
    nc = await nats.connect(cdr_suite.nats.url)
    try:
        parked = await nc.subscribe(dead_letter_subject(contract.CALL_ENDED))
        await nc.jetstream().publish(contract.CALL_ENDED, b'{"call_id": "' + p.encode() + b'bad"}',
                                     stream=contract.CDR_STREAM)  # fmt: skip
        dead = await parked.next_msg(timeout=30)
        assert p.encode() in dead.data and "invalid CallEnded" in dead.headers["Parley-Reason"]
    finally:
        await nc.close()
    attempted, answered, ended = call_events(f"{p}good")
    assert answered is not None
    await cdr_suite.publish([attempted, answered, ended])
    rows = await cdr_suite.wait_final(p, 1)
    assert [row["call_id"] for row in rows] == [f"{p}good"]
