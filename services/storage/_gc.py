"""Blob garbage collection: delete bodies no message has referenced for a while.

The protocol with delivery (see _blobrefs.py): a candidate's row is deleted
first (taking its row lock / the SQLite write lock), then the blob, then the
transaction commits. A delivery that references the same content in the
meantime waits for that lock, writes a fresh row, and finds the blob gone
when it checks inside its own transaction: it fails with a temporary error
instead of committing a message without a body.

Blobs with no row at all (written by a front end whose delivery never
committed) are not collected yet: the blob store keeps no write times, and
without them an orphan cannot be told from a body whose delivery is in flight.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select

from libs.blobs.base import BlobNotFound
from libs.log import get_logger
from services.storage._context import StorageContext
from services.storage.models import Blob, StoredMessage

_log = get_logger()


class _Referenced(Exception):
    """The blob is still in use: its transaction is rolled back (by raising, as storage's writes
    share transactions on SQLite and must not roll back the session themselves)."""


async def _collect_one(ctx: StorageContext, digest: str, cutoff: datetime) -> int:
    async with ctx.uow() as work:
        gone = await work.session.execute(
            delete(Blob).where(Blob.digest == digest, Blob.refs <= 0, Blob.zero_since <= cutoff)
        )
        if gone.rowcount != 1:
            return 0  # referenced again since we looked
        still_used = await work.session.scalar(select(StoredMessage.id).where(StoredMessage.blob == digest).limit(1))
        if still_used is not None:  # a counting bug must never cost a body
            _log.error("storage.gc.refcount_mismatch", blob=digest)
            raise _Referenced(digest)
        try:
            await ctx.blobs.delete(digest)
        except BlobNotFound:
            pass
        return 1


async def collect(ctx: StorageContext, *, grace: float, limit: int = 1000) -> int:
    """Delete up to `limit` blobs unreferenced for `grace` seconds; return how many went."""
    cutoff = datetime.now(UTC) - timedelta(seconds=grace)
    async with ctx.read() as session:
        candidates = list(
            await session.scalars(select(Blob.digest).where(Blob.refs <= 0, Blob.zero_since <= cutoff).limit(limit))
        )
    removed = 0
    for digest in candidates:
        try:
            removed += await _collect_one(ctx, digest, cutoff)
        except _Referenced:
            continue
    if removed:
        _log.info("storage.gc.collected", blobs=removed)
    return removed
