"""SQLite writers of one storage process take turns: a second transaction begins only after the
first has committed (and published its events), and a failed one lets the next in."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text

from libs.contracts.base import Event
from libs.db import create_engine, session_factory
from services.storage._writes import SerialUnitOfWork


async def test_transactions_take_turns(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'w.sqlite3'}")
    log: list[str] = []

    async def publish(event: Event) -> None:
        log.append("published")

    uow = SerialUnitOfWork(session_factory(engine), publish)
    async with uow() as work:
        await work.session.execute(text("CREATE TABLE t (n INTEGER)"))

    async def writer(n: int) -> None:
        async with uow() as work:
            log.append(f"begin {n}")
            await work.session.execute(text("INSERT INTO t VALUES (:n)"), {"n": n})
            await asyncio.sleep(0.01)  # the other writer gets the loop meanwhile
            log.append(f"end {n}")

    await asyncio.gather(writer(1), writer(2), writer(3))
    begins = [i for i, entry in enumerate(log) if entry.startswith("begin")]
    for i in begins:
        assert log[i + 1].startswith("end")  # nobody began in between
    async with uow() as work:
        assert (await work.session.scalar(text("SELECT count(*) FROM t"))) == 3

    with pytest.raises(RuntimeError):
        async with uow() as work:
            await work.session.execute(text("INSERT INTO t VALUES (4)"))
            raise RuntimeError("refused")
    async with uow() as work:  # the turn was given back, and the failed insert rolled back
        assert (await work.session.scalar(text("SELECT count(*) FROM t"))) == 3
    await engine.dispose()
