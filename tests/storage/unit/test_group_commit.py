"""SQLite writers of one storage process take turns and share commits: a writer's block runs only
after the previous one's has ended, writers queued together commit once, each returns only
after that commit, and one that fails is rolled back alone."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.contracts.base import Event
from libs.contracts.errors import Conflict
from libs.db import create_engine, session_factory
from services.storage._writes import GroupCommitUnitOfWork


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncEngine:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'w.sqlite3'}")
    yield engine
    await engine.dispose()


async def _uow(engine: AsyncEngine, log: list[str]) -> GroupCommitUnitOfWork:
    async def publish(event: Event) -> None:
        log.append("published")

    uow = GroupCommitUnitOfWork(session_factory(engine), publish)
    async with uow() as work:
        await work.session.execute(text("CREATE TABLE t (n INTEGER UNIQUE)"))
    event.listen(engine.sync_engine, "commit", lambda _conn: log.append("commit"))
    return uow


async def count(uow: GroupCommitUnitOfWork) -> int:
    async with uow() as work:
        return int(await work.session.scalar(text("SELECT count(*) FROM t")))


async def test_writers_take_turns_and_share_one_commit(engine: AsyncEngine) -> None:
    log: list[str] = []
    uow = await _uow(engine, log)

    async def writer(n: int) -> None:
        async with uow() as work:
            log.append(f"begin {n}")
            await work.session.execute(text("INSERT INTO t VALUES (:n)"), {"n": n})
            await asyncio.sleep(0.01)  # the others get the loop meanwhile
            log.append(f"end {n}")
        log.append(f"returned {n}")

    await asyncio.gather(writer(1), writer(2), writer(3))
    assert log[:6] == ["begin 1", "end 1", "begin 2", "end 2", "begin 3", "end 3"]
    assert log[6] == "commit"  # one commit for the three, before any of them returns
    assert sorted(log[7:]) == ["returned 1", "returned 2", "returned 3"]
    assert await count(uow) == 3


async def test_a_failing_writer_is_rolled_back_alone(engine: AsyncEngine) -> None:
    log: list[str] = []
    uow = await _uow(engine, log)

    async def writer(n: int, fail: bool = False) -> None:
        async with uow() as work:
            await work.session.execute(text("INSERT INTO t VALUES (:n)"), {"n": n})
            await asyncio.sleep(0.01)
            if fail:
                raise RuntimeError("refused")

    results = await asyncio.gather(writer(1), writer(2, fail=True), writer(3), return_exceptions=True)
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], RuntimeError)
    assert await count(uow) == 2
    # The last in line failing still commits the others.
    results = await asyncio.gather(writer(4), writer(5, fail=True), return_exceptions=True)
    assert results[0] is None and isinstance(results[1], RuntimeError)
    assert await count(uow) == 3


async def test_unique_violation_is_a_conflict_for_that_writer_only(engine: AsyncEngine) -> None:
    log: list[str] = []
    uow = await _uow(engine, log)

    async def writer(n: int) -> None:
        async with uow() as work:
            await work.session.execute(text("INSERT INTO t VALUES (:n)"), {"n": n})
            await asyncio.sleep(0.01)

    results = await asyncio.gather(writer(1), writer(1), writer(2), return_exceptions=True)
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], Conflict)
    assert await count(uow) == 2


async def test_events_go_out_after_the_commit(engine: AsyncEngine) -> None:
    log: list[str] = []
    uow = await _uow(engine, log)
    log.clear()

    class Done(Event):
        def subject(self) -> str:
            return "test.done"

    async with uow() as work:
        await work.session.execute(text("INSERT INTO t VALUES (1)"))
        work.publish(Done())
        log.append("queued")
    assert log == ["queued", "commit", "published"]
