"""Quota limits come from the directory (the account's quota_bytes and
quota_messages); use is counted here, in the same transactions that add or
remove messages. Limits are cached briefly so a burst of deliveries costs
one directory request, and the lookup doubles as "does this account exist".
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from libs.contracts.errors import OverQuota
from services.storage.models import Usage


@dataclass(frozen=True)
class Limits:
    bytes: int | None
    messages: int | None


LimitsLookup = Callable[[str], Awaitable[Limits]]


class QuotaLimits:
    """Limits per account, asked of the directory and remembered for `ttl` seconds."""

    def __init__(self, lookup: LimitsLookup, *, ttl: float, max_entries: int = 100_000) -> None:
        self._lookup = lookup
        self._ttl = ttl
        self._max_entries = max_entries
        self._cache: dict[str, tuple[float, Limits]] = {}

    async def limits(self, account: str) -> Limits:
        cached = self._cache.get(account)
        now = time.monotonic()
        if cached and cached[0] > now:
            return cached[1]
        limits = await self._lookup(account)
        if len(self._cache) >= self._max_entries:
            self._cache.clear()
        self._cache[account] = (now + self._ttl, limits)
        return limits

    def forget(self, account: str) -> None:
        self._cache.pop(account, None)


def _upsert(session: AsyncSession):  # type: ignore[no-untyped-def]
    return pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert


async def add_usage(session: AsyncSession, account: str, *, size: int, count: int, limits: Limits | None) -> None:
    """Count `count` more messages of `size` bytes; refuse (OverQuota) past the limits."""
    insert = _upsert(session)(Usage).values(account=account, bytes=size, messages=count)
    await session.execute(
        insert.on_conflict_do_update(
            index_elements=[Usage.account],
            set_={"bytes": Usage.bytes + size, "messages": Usage.messages + count},
        )
    )
    if limits is None or (limits.bytes is None and limits.messages is None) or (size <= 0 and count <= 0):
        return
    used_bytes, used_messages = (
        await session.execute(select(Usage.bytes, Usage.messages).where(Usage.account == account))
    ).one()
    if limits.bytes is not None and used_bytes > limits.bytes:
        raise OverQuota(f"over_quota: {account} would use {used_bytes} of {limits.bytes} bytes")
    if limits.messages is not None and used_messages > limits.messages:
        raise OverQuota(f"over_quota: {account} would hold {used_messages} of {limits.messages} messages")


def over_limits(limits: Limits | None, used_bytes: int, used_messages: int) -> bool:
    if limits is None:
        return False
    return (limits.bytes is not None and used_bytes > limits.bytes) or (
        limits.messages is not None and used_messages > limits.messages
    )


def _add_usage_statement(insert):  # type: ignore[no-untyped-def]
    table = Usage.__table__
    statement = insert(table)
    return statement.on_conflict_do_update(
        index_elements=[table.c.account],
        set_={
            "bytes": table.c.bytes + statement.excluded.bytes,
            "messages": table.c.messages + statement.excluded.messages,
        },
    )


# Built once: the same statement object each time lets SQLAlchemy reuse its compiled form.
_ADD_USAGE = {"postgresql": _add_usage_statement(pg_insert), "sqlite": _add_usage_statement(sqlite_insert)}


async def add_usage_many(session: AsyncSession, totals: dict[str, tuple[int, int]]) -> None:
    """Count (bytes, messages) more for each account, as one executemany; nothing is refused here
    (see _bulk.py, which reads the new totals back where an account has limits).

    Sorted, so two writers touching the same accounts lock their rows in the same order.
    """
    if not totals:
        return
    rows = [{"account": a, "bytes": size, "messages": count} for a, (size, count) in sorted(totals.items())]
    await session.execute(_ADD_USAGE[session.bind.dialect.name], rows)


async def usage_of(session: AsyncSession, accounts: list[str]) -> dict[str, tuple[int, int]]:
    rows = await session.execute(select(Usage.account, Usage.bytes, Usage.messages).where(Usage.account.in_(accounts)))
    return {row.account: (int(row.bytes), int(row.messages)) for row in rows}


async def remove_usage(session: AsyncSession, account: str, *, size: int, count: int) -> None:
    await session.execute(
        update(Usage).where(Usage.account == account).values(bytes=Usage.bytes - size, messages=Usage.messages - count)
    )


async def get_usage(session: AsyncSession, account: str) -> tuple[int, int]:
    row = (await session.execute(select(Usage.bytes, Usage.messages).where(Usage.account == account))).first()
    return (int(row[0]), int(row[1])) if row else (0, 0)
