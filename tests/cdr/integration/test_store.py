"""CdrStore against SQLite and PostgreSQL: migrations, merging a batch, the insert race, filing, expiry."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from libs.contracts import sip as contract
from libs.db import create_engine, session_factory
from libs.db.migrations import upgrade_async
from services.cdr._daily_file import DailyFiles
from services.cdr._filing import Filing
from services.cdr._store import CdrStore
from tests.cdr.events import call_events


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[CdrStore]:
    await upgrade_async("cdr", database_url)
    engine = create_engine(database_url)
    try:
        yield CdrStore(session_factory(engine), owner="node1", files=True)
    finally:
        await engine.dispose()


def events_of(call_id: str, **kwargs: Any) -> list[contract.CallEvent]:
    return [e for e in call_events(call_id, **kwargs) if e is not None]


async def test_a_batch_with_new_and_existing_rows(store: CdrStore) -> None:
    first = events_of("s1")
    second = events_of("s2", talk=None, status=486)
    assert await store.apply([first[0], second[0]]) == []
    finished = await store.apply([first[2], first[1], second[-1], *first])  # one row ends, the other too, duplicates
    assert sorted((r.call_id, r.result) for r in finished) == [("s1", "answered"), ("s2", "busy")]
    assert await store.apply([*first, *second]) == [], "final rows never become final again"
    unfiled = await store.unfiled()
    assert sorted(r.call_id for r in unfiled) == ["s1", "s2"]
    await store.mark_filed(unfiled)
    assert await store.unfiled() == []


async def test_losing_the_insert_race_merges_into_the_winners_row(
    store: CdrStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    attempted, answered, ended = events_of("race")
    await store.apply([attempted, answered])  # the "other replica" inserted the row
    real_load = store._load
    calls = []

    async def blind_first_load(session: Any, keys: Any) -> Any:
        calls.append(keys)
        return {} if len(calls) == 1 else await real_load(session, keys)  # read before the other commit

    monkeypatch.setattr(store, "_load", blind_first_load)
    finished = await store.apply([ended])
    assert [(r.call_id, r.result, r.duration_ms) for r in finished] == [("race", "answered", 5000)]
    assert len(calls) == 2


async def test_open_calls_expire(store: CdrStore) -> None:
    attempted, answered, _ = events_of("open", start=datetime.now(UTC) - timedelta(hours=2))
    fresh, _, _ = events_of("fresh", start=datetime.now(UTC))
    await store.apply([attempted, answered, fresh])
    closed = await store.expire_open(datetime.now(UTC) - timedelta(hours=1))
    assert [(r.call_id, r.result, r.ended_by) for r in closed] == [("open", "failed", "expired")]
    assert await store.expire_open(datetime.now(UTC) - timedelta(hours=1)) == []
    assert [r.call_id for r in await store.unfiled()] == ["open"]


async def test_a_failed_append_is_recovered_before_the_next_batch(
    store: CdrStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = DailyFiles(tmp_path)
    filing = Filing(store, files)
    await filing.recover()
    real_append = files.append

    def torn_append(records: Any) -> None:  # half the batch reaches the disk, then the disk is full
        real_append(list(records)[:1])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files, "append", torn_append)
    first = events_of("f1") + events_of("f2")
    with pytest.raises(OSError):
        await filing.finish(lambda: store.apply(first))
    monkeypatch.setattr(files, "append", real_append)
    await filing.finish(lambda: store.apply(first))  # the redelivered batch: nothing becomes final again
    await filing.finish(lambda: store.apply(events_of("f3")))
    lines = (tmp_path / "cdr-2026-11-26.log").read_text().splitlines()[1:]
    assert sorted(line.split("\t")[0] for line in lines) == ["f1", "f2", "f3"]
    assert await store.unfiled() == []
