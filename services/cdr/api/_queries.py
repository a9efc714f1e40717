"""Filters and keyset pagination over `cdrs`, shared by the list and the exports.

Records are ordered by (started_at, id). A page's cursor names the last
record returned; the next page starts strictly after it, so pages stay
consistent while new calls arrive (no OFFSET that shifts under inserts).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from libs.contracts import directory
from libs.contracts.errors import BadRequest, Forbidden
from services.cdr._records import domain_of
from services.cdr.models import Cdr


@dataclass(frozen=True)
class Filters:
    since: datetime | None = None
    until: datetime | None = None
    account: str | None = None
    result: str | None = None
    domain: str | None = None  # a domain administrator sees only calls from or to it
    final_only: bool = False


def filters_for(
    who: directory.AdminPrincipal,
    *,
    since: datetime | None,
    until: datetime | None,
    account: str | None,
    result: str | None,
    final_only: bool = False,
) -> Filters:
    since, until = _utc(since), _utc(until)
    if since is not None and until is not None and since >= until:
        raise BadRequest("since must be before until")
    if account is not None:
        account = account.strip().lower()
        if "@" not in account or len(account) > 320:
            raise BadRequest("account must be an address: user@domain")
    domain = who.domain if who.role == "domain" else None
    if domain is not None and account is not None and domain_of(account) != domain:
        raise Forbidden(f"{who.name} administers {domain} only")
    return Filters(since=since, until=until, account=account, result=result, domain=domain, final_only=final_only)


def encode_cursor(row: Cdr) -> str:
    text = f"{row.started_at.astimezone(UTC).isoformat()}|{row.id}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        started, ident = text.split("|")
        return datetime.fromisoformat(started).astimezone(UTC), int(ident)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise BadRequest("invalid cursor") from None


def conditions(filters: Filters) -> list[Any]:
    where: list[Any] = []
    if filters.since is not None:
        where.append(Cdr.started_at >= filters.since)
    if filters.until is not None:
        where.append(Cdr.started_at < filters.until)
    if filters.account is not None:
        where.append(or_(Cdr.caller == filters.account, Cdr.callee == filters.account))
    if filters.result is not None:
        where.append(Cdr.result == filters.result)
    if filters.domain is not None:
        where.append(or_(Cdr.caller_domain == filters.domain, Cdr.callee_domain == filters.domain))
    if filters.final_only:
        where.append(Cdr.ended_at.is_not(None))
    return where


async def page(session: AsyncSession, filters: Filters, *, limit: int, after: tuple[datetime, int] | None) -> list[Cdr]:
    query = select(Cdr).where(*conditions(filters))
    if after is not None:
        started, ident = after
        query = query.where(or_(Cdr.started_at > started, and_(Cdr.started_at == started, Cdr.id > ident)))
    query = query.order_by(Cdr.started_at, Cdr.id).limit(limit)
    return list((await session.scalars(query)).all())


async def all_rows(
    sessions: async_sessionmaker[AsyncSession], filters: Filters, *, chunk: int = 500
) -> AsyncIterator[Cdr]:
    """Every matching row, in order, read in short transactions of `chunk` rows (for streamed exports)."""
    after: tuple[datetime, int] | None = None
    while True:
        async with sessions() as session:
            rows = await page(session, filters, limit=chunk, after=after)
        for row in rows:
            yield row
        if len(rows) < chunk:
            return
        after = (rows[-1].started_at, rows[-1].id)


async def by_call_id(session: AsyncSession, call_id: str, domain: str | None) -> list[Cdr]:
    query = select(Cdr).where(Cdr.call_id == call_id, *conditions(Filters(domain=domain))).order_by(Cdr.leg)
    return list((await session.scalars(query)).all())


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
