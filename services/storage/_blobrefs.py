"""Reference counts of blobs, kept in the transactions that add and remove messages.

Garbage collection (see _gc.py) deletes a blob only when its row says
nobody has referenced it for a grace period, and it deletes the file while
holding that row, so a delivery that re-references the same content either
sees the row first (and the blob survives) or finds the blob gone (and
fails with BlobMissing, a temporary error) — never a message without a body.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.storage.models import Blob


async def add_refs(session: AsyncSession, digest: str, size: int, count: int = 1) -> None:
    insert = (pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert)(Blob)
    await session.execute(
        insert.values(digest=digest, size=size, refs=count, zero_since=None).on_conflict_do_update(
            index_elements=[Blob.digest], set_={"refs": Blob.refs + count, "zero_since": None}
        )
    )


def _add_refs_statement(insert):  # type: ignore[no-untyped-def]
    table = Blob.__table__
    statement = insert(table)
    return statement.on_conflict_do_update(
        index_elements=[table.c.digest], set_={"refs": table.c.refs + statement.excluded.refs, "zero_since": None}
    )


# Built once: the same statement object each time lets SQLAlchemy reuse its compiled form.
_ADD_REFS = {"postgresql": _add_refs_statement(pg_insert), "sqlite": _add_refs_statement(sqlite_insert)}


async def add_refs_many(session: AsyncSession, refs: dict[str, tuple[int, int]]) -> None:
    """`add_refs` for many digests (digest: (size, new references)), as one executemany.

    Sorted, so two writers touching the same blobs lock their rows in the same order.
    """
    if not refs:
        return
    rows = [
        {"digest": digest, "size": size, "refs": count, "zero_since": None}
        for digest, (size, count) in sorted(refs.items())
    ]
    await session.execute(_ADD_REFS[session.bind.dialect.name], rows)


async def drop_refs(session: AsyncSession, counts: dict[str, int]) -> None:
    now = datetime.now(UTC)
    for digest, count in counts.items():
        await session.execute(update(Blob).where(Blob.digest == digest).values(refs=Blob.refs - count))
        await session.execute(update(Blob).where(Blob.digest == digest, Blob.refs <= 0).values(refs=0, zero_since=now))
