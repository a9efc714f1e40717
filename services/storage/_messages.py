"""Reading and changing messages: UID map, STORE, COPY/MOVE, EXPUNGE and the expunge
log for QRESYNC. FETCH metadata is in _fetch.py."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, and_, false, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from libs.contracts import storage as contract
from libs.db.unit_of_work import Work
from services.storage._blobrefs import add_refs
from services.storage._context import StorageContext
from services.storage._delivery import allocate
from services.storage._flags import CANONICAL, FlagSet, apply, parse_flags, stored_keywords
from services.storage._fts import copy_text
from services.storage._mailboxes import get_mailbox, purge_messages
from services.storage._quota import add_usage
from services.storage.models import Expunged, Mailbox, StoredMessage

COPIED_COLUMNS = (
    "blob", "size", "internal_date", "seen", "answered", "flagged", "deleted", "draft", "keywords", "envelope",
    "structure", "subject", "base_subject", "from_text", "to_text", "cc_text", "bcc_text", "sent_date",
    "message_id", "in_reply_to", "references",
)  # fmt: skip


def uid_condition(uids: Sequence[contract.UidRange]) -> ColumnElement[bool]:
    clauses = []
    for r in uids:
        if r.last is None:
            clauses.append(StoredMessage.uid >= r.first)
        else:
            low, high = sorted((r.first, r.last))
            clauses.append(StoredMessage.uid == low if low == high else StoredMessage.uid.between(low, high))
    return or_(*clauses) if clauses else false()


def flags_of(message: StoredMessage) -> FlagSet:
    system = frozenset(c for c in CANONICAL if getattr(message, c))
    return FlagSet(system, stored_keywords(message.keywords))


def _publish(work: Work, mailbox: Mailbox, kind: contract.ChangeKind, uids: list[int], modseq: int) -> None:
    if uids:
        work.publish(
            contract.MailboxChanged(
                account=mailbox.account, mailbox=mailbox.name, mailbox_id=mailbox.id,
                uidvalidity=mailbox.uidvalidity, kind=kind, uids=uids[:10_000], modseq=modseq,
            )
        )  # fmt: skip


async def uids(ctx: StorageContext, request: contract.UidsRequest) -> contract.UidsReply:
    async with ctx.read() as session:
        mailbox = await get_mailbox(session, request.account, request.mailbox)
        result = await session.scalars(
            select(StoredMessage.uid).where(StoredMessage.mailbox_id == mailbox.id).order_by(StoredMessage.uid)
        )
        return contract.UidsReply(
            uidvalidity=mailbox.uidvalidity,
            uidnext=mailbox.uidnext,
            highest_modseq=mailbox.highest_modseq,
            uids=list(result),
        )


async def store_flags(ctx: StorageContext, request: contract.StoreFlagsRequest) -> contract.StoreFlagsReply:
    change = parse_flags(request.flags)
    async with ctx.uow() as work:
        session = work.session
        mailbox = await get_mailbox(session, request.account, request.mailbox, lock=True)
        messages = list(
            await session.scalars(
                select(StoredMessage)
                .where(StoredMessage.mailbox_id == mailbox.id, uid_condition(request.uids))
                .order_by(StoredMessage.uid)
            )
        )
        # RFC 7162 section 3.1.3: UNCHANGEDSINCE refuses messages modified after that MODSEQ.
        refused = [
            m.uid for m in messages if request.unchanged_since is not None and m.modseq > request.unchanged_since
        ]
        to_change = [(m, apply(flags_of(m), change, request.mode)) for m in messages if m.uid not in set(refused)]
        to_change = [(m, new) for m, new in to_change if new != flags_of(m)]
        changed: list[contract.FlagChange] = []
        if to_change:
            _first, modseq = await allocate(session, mailbox, 0)
            for message, new in to_change:
                for column in CANONICAL:
                    setattr(message, column, column in new.system)
                message.keywords = " ".join(new.keywords)
                message.modseq = modseq
                changed.append(contract.FlagChange(uid=message.uid, modseq=modseq, flags=new.as_list()))
            _publish(work, mailbox, contract.ChangeKind.FLAGS, [c.uid for c in changed], modseq)
        return contract.StoreFlagsReply(changed=changed, modified=refused, highest_modseq=mailbox.highest_modseq)


async def _copy_into(
    work: Work, source: Mailbox, target: Mailbox, messages: list[StoredMessage], ctx: StorageContext
) -> list[int]:
    session = work.session
    limits = await ctx.quotas.limits(target.account)
    first_uid, modseq = await allocate(session, target, len(messages))
    await add_usage(session, target.account, size=sum(m.size for m in messages), count=len(messages), limits=limits)
    copies = []
    for offset, original in enumerate(messages):
        copy = StoredMessage(
            mailbox_id=target.id, uid=first_uid + offset, modseq=modseq,
            **{c: getattr(original, c) for c in COPIED_COLUMNS},
        )  # fmt: skip
        session.add(copy)
        copies.append(copy)
        await add_refs(session, original.blob, original.size)
    await session.flush()
    await copy_text(session, list(zip(messages, copies, strict=True)))
    target_uids = [c.uid for c in copies]
    _publish(work, target, contract.ChangeKind.ADDED, target_uids, modseq)
    return target_uids


async def _selected(session: AsyncSession, mailbox: Mailbox, uids: Sequence[contract.UidRange]) -> list[StoredMessage]:
    return list(
        await session.scalars(
            select(StoredMessage)
            .where(StoredMessage.mailbox_id == mailbox.id, uid_condition(uids))
            .order_by(StoredMessage.uid)
        )
    )


async def _source_and_target(session: AsyncSession, request: contract.CopyRequest) -> tuple[Mailbox, Mailbox]:
    # Lock in a fixed order (by name) so two opposite moves cannot deadlock.
    names = sorted({request.mailbox, request.target})
    locked = {n: await get_mailbox(session, request.account, n, lock=True) for n in names}
    return locked[request.mailbox], locked[request.target]


async def copy(ctx: StorageContext, request: contract.CopyRequest) -> contract.CopyReply:
    async with ctx.uow() as work:
        source, target = await _source_and_target(work.session, request)
        messages = await _selected(work.session, source, request.uids)
        target_uids = await _copy_into(work, source, target, messages, ctx) if messages else []
        return contract.CopyReply(
            uidvalidity=target.uidvalidity, source_uids=[m.uid for m in messages], target_uids=target_uids,
            highest_modseq=target.highest_modseq,
        )  # fmt: skip


async def move(ctx: StorageContext, request: contract.MoveRequest) -> contract.CopyReply:
    """RFC 6851: copy, then expunge the originals, in one transaction."""
    async with ctx.uow() as work:
        source, target = await _source_and_target(work.session, request)
        if source.id == target.id:
            return contract.CopyReply(uidvalidity=target.uidvalidity, source_uids=[], target_uids=[])
        messages = await _selected(work.session, source, request.uids)
        if not messages:
            return contract.CopyReply(uidvalidity=target.uidvalidity, source_uids=[], target_uids=[])
        target_uids = await _copy_into(work, source, target, messages, ctx)
        expunged, modseq = await _expunge(work, source, [m.id for m in messages])
        return contract.CopyReply(
            uidvalidity=target.uidvalidity, source_uids=[m.uid for m in messages], target_uids=target_uids,
            expunged=expunged, highest_modseq=modseq,
        )  # fmt: skip


async def _expunge(work: Work, mailbox: Mailbox, message_ids: list[int]) -> tuple[list[int], int]:
    session = work.session
    if not message_ids:
        return [], mailbox.highest_modseq
    _first, modseq = await allocate(session, mailbox, 0)
    removed = await purge_messages(session, mailbox, select(StoredMessage).where(StoredMessage.id.in_(message_ids)))
    uids = sorted(m.uid for m in removed)
    session.add_all(Expunged(mailbox_id=mailbox.id, uid=uid, modseq=modseq) for uid in uids)
    _publish(work, mailbox, contract.ChangeKind.EXPUNGED, uids, modseq)
    return uids, modseq


async def expunge(ctx: StorageContext, request: contract.ExpungeRequest) -> contract.ExpungeReply:
    async with ctx.uow() as work:
        mailbox = await get_mailbox(work.session, request.account, request.mailbox, lock=True)
        condition = and_(StoredMessage.mailbox_id == mailbox.id, StoredMessage.deleted.is_(True))
        if request.uids is not None:
            condition = and_(condition, uid_condition(request.uids))
        ids = list(await work.session.scalars(select(StoredMessage.id).where(condition)))
        uids, modseq = await _expunge(work, mailbox, ids)
        return contract.ExpungeReply(expunged=uids, highest_modseq=modseq)


async def vanished(ctx: StorageContext, request: contract.VanishedRequest) -> contract.VanishedReply:
    async with ctx.read() as session:
        mailbox = await get_mailbox(session, request.account, request.mailbox)
        result = await session.scalars(
            select(Expunged.uid)
            .where(Expunged.mailbox_id == mailbox.id, Expunged.modseq > request.since_modseq)
            .order_by(Expunged.uid)
        )
        return contract.VanishedReply(uids=sorted(set(result)), highest_modseq=mailbox.highest_modseq)
