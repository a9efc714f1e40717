"""Blob holds: a reference to a body that no message names yet, or no longer.

The SMTP outbound queue keeps a message's body in the blob store for as long
as days while it retries. The garbage collector (_gc.py) deletes a blob
whose reference count has been zero for its grace period, and the queued
body may share its digest with a local copy that the user deletes in the
meantime. So the queue takes a hold — one more reference on the blob's row,
counted like a message's — before it acknowledges the message, and releases
it once every recipient is delivered or bounced. A hold taken on a blob the
collector is removing at the same moment fails with BlobMissing, exactly as
a delivery would (see _blobrefs.py).

A hold that is never released (a crash between the queue's last ack and
the release) keeps one body for ever: the safe direction.
"""

from __future__ import annotations

from libs.blobs.base import BlobNotFound
from libs.contracts import storage as contract
from libs.contracts.errors import BlobMissing
from services.storage._blobrefs import add_refs, drop_refs
from services.storage._context import StorageContext


async def blob_hold(ctx: StorageContext, request: contract.BlobHoldRequest) -> contract.Done:
    if not request.hold:
        async with ctx.uow() as work:
            await drop_refs(work.session, {request.blob: 1})
        return contract.Done()
    try:
        size = await ctx.blobs.size(request.blob)
    except BlobNotFound:
        raise BlobMissing(f"no_such_blob: {request.blob} is not in the blob store") from None
    async with ctx.uow() as work:
        await add_refs(work.session, request.blob, size)
        if not await ctx.blobs.exists(request.blob):  # collected while we waited for its row
            raise BlobMissing(f"no_such_blob: {request.blob} was collected")
    return contract.Done()
