"""Deliver (from SMTP/LMTP, to many accounts) and append (from IMAP, to one mailbox).

The body is already in the blob store, fsynced (the front end put it there
and sends its digest). Storage reads it once, parses it once, and stores the
metadata. Each recipient gets its own transaction, so one over-quota or
missing account does not fail the others; the reply is sent only after
that recipient's commit.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from libs.blobs.base import BlobNotFound
from libs.contracts import storage as contract
from libs.contracts.errors import BadRequest, BlobMissing, InvalidName, MailboxNotFound, ServiceError
from libs.db.unit_of_work import Work
from libs.log import get_logger
from services.storage._blobrefs import add_refs
from services.storage._context import StorageContext
from services.storage._flags import FlagSet, parse_flags
from services.storage._fts import index_text
from services.storage._mailboxes import get_mailbox
from services.storage._metadata import Metadata, extract
from services.storage._quota import Limits, add_usage
from services.storage._rights import ALL, require, restrict
from services.storage.models import Mailbox, StoredMessage

_log = get_logger()
# Parsing is pure Python and holds the GIL, so a thread buys no parallelism, only a
# hand-off each way; it is worth it only to keep a large message from stalling the loop.
INLINE_PARSE_BYTES = 64 * 1024


async def load_metadata(ctx: StorageContext, digest: str) -> tuple[bytes, Metadata]:
    try:
        raw = await ctx.blobs.get(digest)
    except BlobNotFound:
        raise BlobMissing(f"no_such_blob: {digest} is not in the blob store") from None
    if len(raw) > ctx.settings.max_message_bytes:
        raise BadRequest(f"message of {len(raw)} bytes is over the limit of {ctx.settings.max_message_bytes}")
    if len(raw) <= INLINE_PARSE_BYTES:
        return raw, extract(raw, text_limit=ctx.settings.text_index_bytes)
    return raw, await asyncio.to_thread(extract, raw, text_limit=ctx.settings.text_index_bytes)


async def allocate(session: AsyncSession, mailbox: Mailbox, count: int) -> tuple[int, int]:
    """Reserve `count` UIDs and one new MODSEQ in the locked mailbox row: (first uid, modseq)."""
    first = mailbox.uidnext
    mailbox.uidnext = first + count
    mailbox.highest_modseq = mailbox.highest_modseq + 1
    await session.flush()
    return first, mailbox.highest_modseq


async def store_message(
    work: Work,
    *,
    mailbox: Mailbox,
    digest: str,
    metadata: Metadata,
    flags: FlagSet,
    internal_date: datetime,
    limits: Limits | None,
) -> StoredMessage:
    session = work.session
    uid, modseq = await allocate(session, mailbox, 1)
    await add_usage(session, mailbox.account, size=metadata.size, count=1, limits=limits)
    await add_refs(session, digest, metadata.size)
    message = StoredMessage(
        mailbox_id=mailbox.id,
        uid=uid,
        modseq=modseq,
        blob=digest,
        size=metadata.size,
        internal_date=internal_date,
        seen="seen" in flags.system,
        answered="answered" in flags.system,
        flagged="flagged" in flags.system,
        deleted="deleted" in flags.system,
        draft="draft" in flags.system,
        keywords=" ".join(flags.keywords),
        **metadata.columns(),
    )
    session.add(message)
    await session.flush()
    await index_text(session, message, metadata.header_text, metadata.body_text)
    work.publish(
        contract.MailboxChanged(
            account=mailbox.account,
            mailbox=mailbox.name,
            mailbox_id=mailbox.id,
            uidvalidity=mailbox.uidvalidity,
            kind=contract.ChangeKind.ADDED,
            uids=[uid],
            modseq=modseq,
        )
    )
    return message


@dataclass(frozen=True)
class PendingDelivery:
    digest: str
    metadata: Metadata
    target: contract.DeliveryTarget
    flags: FlagSet
    limits: Limits
    internal_date: datetime


def refused(account: str, exc: ServiceError) -> contract.DeliveryResult:
    _log.info("storage.deliver.refused", account=account, error=exc.code, reason=exc.message)
    return contract.DeliveryResult(account=account, ok=False, error=exc.code, message=exc.message)


async def store_pending(work: Work, ctx: StorageContext, pending: PendingDelivery) -> contract.DeliveryResult:
    """Store one delivery inside the open transaction, in a savepoint: a refusal undoes only this one."""
    marker = len(work.events)
    try:
        async with work.session.begin_nested():
            mailbox = await _delivery_mailbox(work.session, pending.target.account, pending.target.mailbox)
            message = await store_message(
                work, mailbox=mailbox, digest=pending.digest, metadata=pending.metadata, flags=pending.flags,
                internal_date=pending.internal_date, limits=pending.limits,
            )  # fmt: skip
            await _check_blob_still_there(ctx, pending.digest)
    except ServiceError as exc:
        del work.events[marker:]  # the savepoint is gone, so is its announcement
        return refused(pending.target.account, exc)
    return contract.DeliveryResult(
        account=pending.target.account, ok=True, mailbox=mailbox.name, uid=message.uid, uidvalidity=mailbox.uidvalidity
    )


async def deliver_alone(ctx: StorageContext, pending: PendingDelivery) -> contract.DeliveryResult:
    async with ctx.uow() as work:
        return await store_pending(work, ctx, pending)


async def deliver(ctx: StorageContext, request: contract.DeliverRequest) -> contract.DeliverReply:
    with ctx.deliveries.arriving() if ctx.deliveries is not None else contextlib.nullcontext():
        results, pending = await _prepare(ctx, request)
    if ctx.deliveries is not None:
        stored = await ctx.deliveries.submit([p for _, p in pending])
    else:
        stored = [await deliver_alone(ctx, p) for _, p in pending]
    for (index, _), result in zip(pending, stored, strict=True):
        results[index] = result
    return contract.DeliverReply(results=[r for r in results if r is not None])


async def _prepare(
    ctx: StorageContext, request: contract.DeliverRequest
) -> tuple[list[contract.DeliveryResult | None], list[tuple[int, PendingDelivery]]]:
    """Read and parse the message once, look up each recipient's limits: the results known so
    far (refusals) and the deliveries to store, by their place in the reply."""
    _raw, metadata = await load_metadata(ctx, request.blob)
    internal_date = request.internal_date or datetime.now(UTC)
    results: list[contract.DeliveryResult | None] = []
    pending: list[tuple[int, PendingDelivery]] = []
    for target in request.recipients:
        try:
            limits = await ctx.quotas.limits(target.account)
            flags = parse_flags(target.flags)
        except ServiceError as exc:
            results.append(refused(target.account, exc))
            continue
        pending.append((len(results), PendingDelivery(request.blob, metadata, target, flags, limits, internal_date)))
        results.append(None)
    return results, pending


async def _delivery_mailbox(session: AsyncSession, account: str, name: str) -> Mailbox:
    """The target mailbox, or INBOX when a filter named one that does not exist."""
    try:
        return await get_mailbox(session, account, name, lock=True)
    except (MailboxNotFound, InvalidName):
        return await get_mailbox(session, account, "INBOX", lock=True)


async def _check_blob_still_there(ctx: StorageContext, digest: str) -> None:
    # Inside the transaction, after our reference row is written: if garbage
    # collection removed the blob just before, fail now (temporarily) rather
    # than commit a message without a body. See _gc.py.
    if not await ctx.blobs.exists(digest):
        raise BlobMissing(f"no_such_blob: {digest} was collected; deliver again")


async def append(ctx: StorageContext, request: contract.AppendRequest) -> contract.AppendReply:
    _raw, metadata = await load_metadata(ctx, request.blob)
    limits = await ctx.quotas.limits(request.account)
    flags = parse_flags(request.flags)
    async with ctx.uow() as work:
        mailbox = await get_mailbox(work.session, request.account, request.mailbox, lock=True)
        rights = await require(work.session, mailbox, request.actor, "i")
        if rights is not ALL:
            # RFC 4314 section 4: an APPEND sets only the flags the user may set.
            flags = restrict(FlagSet(frozenset(), ()), flags, rights)
        message = await store_message(
            work, mailbox=mailbox, digest=request.blob, metadata=metadata, flags=flags,
            internal_date=request.internal_date or datetime.now(UTC), limits=limits,
        )  # fmt: skip
        await _check_blob_still_there(ctx, request.blob)
        return contract.AppendReply(uid=message.uid, uidvalidity=mailbox.uidvalidity, modseq=message.modseq)
