"""The `cdrs` table: merging a batch of call events in one transaction, filing, expiring.

Concurrency: any number of cdr replicas may pull from the same durable
consumer, so two of them can hold events of one call at the same time. The
batch's existing rows are read FOR UPDATE (PostgreSQL; SQLite has a single
writer) and updated in one executemany; its new rows go in with one
INSERT ... ON CONFLICT DO NOTHING RETURNING. A key that the insert did not
return was inserted by another transaction in between: that row is read
again and the events merged into it, so the unique (call_id, leg)
constraint is never violated and no event is lost.
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
        changed: list[dict[str, Any]] = []
        fresh: dict[Key, tuple[Record, bool]] = {}
        async with self._sessions() as session, session.begin():
            rows = await self._load(session, list(by_key))
            for key, key_events in by_key.items():
                row = rows.get(key)
                if row is None:
                    record = new_record(key_events[0])
                    fresh[key] = (record, _merge_all(record, key_events))
                else:
                    record, final = self._merged(row, key_events, changed)
                    if final:
                        finished.append(record)
            inserted = await self._insert(session, fresh)
            for key, (record, final) in fresh.items():
                if key not in inserted:  # another replica inserted it first: merge into its row
                    row = (await self._load(session, [key]))[key]
                    record, final = self._merged(row, by_key[key], changed)
                if final:
                    finished.append(record)
            if changed:
                await session.execute(update(Cdr), changed)  # one executemany, by primary key
        return finished

    def _merged(self, row: Cdr, events: list[contract.CallEvent], changed: list[dict[str, Any]]) -> tuple[Record, bool]:
        """Merge into an existing row, queueing its update; returns the record and whether this made it final."""
        record = Record.from_columns(row)
        before = record.columns()
        final = _merge_all(record, events)
        if record.columns() != before:
            changed.append({"id": row.id, **record.columns(), **self._filing(final), "updated_at": _now()})
        return record, final

    async def _insert(self, session: AsyncSession, fresh: dict[Key, tuple[Record, bool]]) -> set[Key]:
        """Insert new rows in one statement; returns the keys actually inserted (not taken by a concurrent insert)."""
        if not fresh:
            return set()
        insert = postgresql.insert if session.bind.dialect.name == "postgresql" else sqlite.insert
        now = _now()
        values = [{**record.columns(), **self._filing(final), "updated_at": now} for record, final in fresh.values()]
        statement: Any = (
            insert(Cdr).on_conflict_do_nothing(index_elements=["call_id", "leg"]).returning(Cdr.call_id, Cdr.leg)
        )
        result = await session.execute(statement, values)
        return {(call_id, leg) for call_id, leg in result.all()}

    def _filing(self, final: bool) -> dict[str, Any]:
        if not final:
            return {"filed": False, "file_owner": ""}
        return {"filed": not self._files, "file_owner": self._owner}

    async def _load(self, session: AsyncSession, keys: list[Key]) -> dict[Key, Cdr]:
        if not keys:
            return {}
        # Locked in id order, so two replicas whose batches share calls queue instead of deadlocking.
        query = select(Cdr).where(tuple_(Cdr.call_id, Cdr.leg).in_(keys)).order_by(Cdr.id).with_for_update()
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
