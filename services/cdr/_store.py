"""The `cdrs` table: merging a batch of call events in one transaction, filing, expiring.

Concurrency: any number of cdr replicas may pull from the same durable
consumer, so two of them can hold events of one call at the same time. A
new row goes in with INSERT ... ON CONFLICT DO NOTHING; when another
transaction won the race, the row is read again (FOR UPDATE on PostgreSQL;
SQLite has a single writer) and the events merged into it, so the unique
(call_id, leg) constraint is never violated and no event is lost.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from libs.contracts import sip as contract
from services.cdr._records import Record, expire, merge, new_record
from services.cdr.models import Cdr

Key = tuple[str, str]


class CdrStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], *, owner: str, files: bool) -> None:
        self._sessions = sessions
        self._owner = owner  # the file_owner of rows this process finalises
        self._files = files  # False: nothing to file, rows are final and filed at once

    async def apply(self, events: Sequence[contract.CallEvent]) -> list[Record]:
        """Merge `events` into their rows in one transaction; returns the records that became final."""
        by_key: dict[Key, list[contract.CallEvent]] = {}
        for event in events:
            by_key.setdefault((event.call_id, event.leg), []).append(event)
        finished: list[Record] = []
        async with self._sessions() as session, session.begin():
            rows = await self._load(session, list(by_key))
            for key, key_events in by_key.items():
                record = await self._merge_key(session, rows.get(key), key_events)
                if record is not None:
                    finished.append(record)
        return finished

    async def _merge_key(
        self, session: AsyncSession, row: Cdr | None, events: list[contract.CallEvent]
    ) -> Record | None:
        if row is None:
            record = new_record(events[0])
            final = _merge_all(record, events)
            if await self._insert(session, record, final):
                return record if final else None
            row = (await self._load(session, [record.key]))[record.key]  # another replica inserted it first
        record = Record.from_columns(row)
        before = record.columns()
        final = _merge_all(record, events)
        if record.columns() != before:
            await session.execute(
                update(Cdr)
                .where(Cdr.id == row.id)
                .values(**record.columns(), **self._filing(final), updated_at=_now())  # fmt: skip
            )
        return record if final else None

    async def _insert(self, session: AsyncSession, record: Record, final: bool) -> bool:
        insert = postgresql.insert if session.bind.dialect.name == "postgresql" else sqlite.insert
        values = {**record.columns(), **self._filing(final), "updated_at": _now()}
        statement: Any = insert(Cdr).values(**values).on_conflict_do_nothing(index_elements=["call_id", "leg"])
        result: Any = await session.execute(statement)
        return bool(result.rowcount)

    def _filing(self, final: bool) -> dict[str, Any]:
        if not final:
            return {"filed": False, "file_owner": ""}
        return {"filed": not self._files, "file_owner": self._owner}

    async def _load(self, session: AsyncSession, keys: list[Key]) -> dict[Key, Cdr]:
        if not keys:
            return {}
        query = select(Cdr).where(tuple_(Cdr.call_id, Cdr.leg).in_(keys)).with_for_update()
        return {(row.call_id, row.leg): row for row in (await session.scalars(query)).all()}

    async def mark_filed(self, records: Sequence[Record]) -> None:
        if not records:
            return
        keys = [record.key for record in records]
        async with self._sessions() as session, session.begin():
            await session.execute(update(Cdr).where(tuple_(Cdr.call_id, Cdr.leg).in_(keys)).values(filed=True))

    async def unfiled(self, limit: int = 1000) -> list[Record]:
        """Final rows of this process whose line may be missing from the daily file (a crash before the mark)."""
        async with self._sessions() as session:
            query = (
                select(Cdr)
                .where(Cdr.filed.is_(False), Cdr.file_owner == self._owner, Cdr.ended_at.is_not(None))
                .order_by(Cdr.id)
                .limit(limit)
            )
            return [Record.from_columns(row) for row in (await session.scalars(query)).all()]

    async def expire_open(self, started_before: datetime, limit: int = 500) -> list[Record]:
        """Close calls started before the cutoff whose end never arrived; returns those closed here."""
        closed: list[Record] = []
        now = _now()
        async with self._sessions() as session, session.begin():
            query = select(Cdr).where(Cdr.ended_at.is_(None), Cdr.started_at < started_before).limit(limit)
            for row in (await session.scalars(query.with_for_update(skip_locked=True))).all():
                record = Record.from_columns(row)
                expire(record, now)
                result: Any = await session.execute(
                    update(Cdr).where(Cdr.id == row.id, Cdr.ended_at.is_(None))
                    .values(**record.columns(), **self._filing(True), updated_at=now)
                )  # fmt: skip
                if result.rowcount:
                    closed.append(record)
        return closed


def _merge_all(record: Record, events: list[contract.CallEvent]) -> bool:
    final = False
    for event in events:
        final = merge(record, event) or final
    return final


def _now() -> datetime:
    return datetime.now(UTC)
