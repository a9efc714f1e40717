"""Reading and changing messages: UID map, STORE, COPY/MOVE, EXPUNGE and the expunge
log for QRESYNC. FETCH metadata is in _fetch.py."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, false, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from libs.contracts import storage as contract
from libs.contracts.errors import Forbidden
from libs.db.unit_of_work import Work
from services.storage._blobrefs import add_refs
from services.storage._context import StorageContext
from services.storage._delivery import allocate
from services.storage._flags import CANONICAL, FlagSet, apply, parse_flags, stored_keywords
from services.storage._fts import copy_text
from services.storage._mailboxes import get_mailbox, mailbox_for, purge_messages
from services.storage._names import canonical_name
from services.storage._quota import add_usage
from services.storage._rights import ALL, FLAG_WRITING, require, restrict
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


async def _with_mailbox(
    session: AsyncSession,
    account: str,
    name: str,
    actor: str | None,
    column: Any,
    on: ColumnElement[bool],
) -> tuple[Mailbox, list[int]] | None:
    """The mailbox (the actor's `r` right checked) and `column` of the rows joined to it `on`, in
    UID order, from one statement: the hot read path pays one database round trip, not two.
    None when no such mailbox exists yet; the caller then takes the usual path (which makes a
    first INBOX, or refuses)."""
    rows = (
        await session.execute(
            select(Mailbox.id, Mailbox.uidvalidity, Mailbox.uidnext, Mailbox.highest_modseq, column)
            .outerjoin(column.class_, on)
            .where(Mailbox.account == account, Mailbox.name == canonical_name(name))
            .order_by(column)
        )
    ).all()
    if not rows:
        return None
    first = rows[0]
    mailbox = Mailbox(
        id=first[0], account=account, name=canonical_name(name),
        uidvalidity=first[1], uidnext=first[2], highest_modseq=first[3],
    )  # fmt: skip
    await require(session, mailbox, actor, "r")
    return mailbox, [row[4] for row in rows if row[4] is not None]


async def uids(ctx: StorageContext, request: contract.UidsRequest) -> contract.UidsReply:
    async with ctx.read() as session:
        found = await _with_mailbox(
            session, request.account, request.mailbox, request.actor,
            StoredMessage.uid, StoredMessage.mailbox_id == Mailbox.id,
        )  # fmt: skip
        if found is None:
            mailbox = await mailbox_for(session, request.account, request.mailbox, request.actor, "r")
            result = await session.scalars(
                select(StoredMessage.uid).where(StoredMessage.mailbox_id == mailbox.id).order_by(StoredMessage.uid)
            )
            found = mailbox, list(result)
        mailbox, listed = found
        return contract.UidsReply(
            uidvalidity=mailbox.uidvalidity,
            uidnext=mailbox.uidnext,
            highest_modseq=mailbox.highest_modseq,
            uids=listed,
        )


async def store_flags(ctx: StorageContext, request: contract.StoreFlagsRequest) -> contract.StoreFlagsReply:
    change = parse_flags(request.flags)
    async with ctx.uow() as work:
        session = work.session
        mailbox = await get_mailbox(session, request.account, request.mailbox, lock=True)
        have = await require(session, mailbox, request.actor, "r")
        if not have & FLAG_WRITING:
            raise Forbidden(f"no_permission: missing right s, w or t on {mailbox.name}")
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
        to_change = [
            (m, restrict(flags_of(m), apply(flags_of(m), change, request.mode), have))
            for m in messages
            if m.uid not in set(refused)
        ]
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
    work: Work,
    source: Mailbox,
    target: Mailbox,
    messages: list[StoredMessage],
    ctx: StorageContext,
    rights: frozenset[str] = ALL,
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
        if rights is not ALL:
            # RFC 4314 section 4: a copy keeps only the flags the user may set in the target.
            kept = restrict(FlagSet(frozenset(), ()), flags_of(original), rights)
            for column in CANONICAL:
                setattr(copy, column, column in kept.system)
            copy.keywords = " ".join(kept.keywords)
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


async def _source_and_target(
    session: AsyncSession, request: contract.CopyRequest, source_rights: str
) -> tuple[Mailbox, Mailbox, frozenset[str]]:
    """Both mailboxes, locked, with the actor's rights checked: `source_rights` on the source and
    `i` on the target (RFC 4314 section 4, RFC 6851 section 3.3); answers the target rights too.
    The target may belong to another owner (`target_account`): a shared mailbox into one's own."""
    source_key = (request.account, canonical_name(request.mailbox))
    target_key = (request.target_account or request.account, canonical_name(request.target))
    # Lock in a fixed order (by owner and name) so two opposite moves cannot deadlock.
    locked = {key: await get_mailbox(session, *key, lock=True) for key in sorted({source_key, target_key})}
    source, target = locked[source_key], locked[target_key]
    await require(session, source, request.actor, source_rights)
    target_rights = await require(session, target, request.actor, "i")
    return source, target, target_rights


async def copy(ctx: StorageContext, request: contract.CopyRequest) -> contract.CopyReply:
    async with ctx.uow() as work:
        source, target, rights = await _source_and_target(work.session, request, "r")
        messages = await _selected(work.session, source, request.uids)
        target_uids = await _copy_into(work, source, target, messages, ctx, rights) if messages else []
        return contract.CopyReply(
            uidvalidity=target.uidvalidity, source_uids=[m.uid for m in messages], target_uids=target_uids,
            highest_modseq=target.highest_modseq,
        )  # fmt: skip


async def move(ctx: StorageContext, request: contract.MoveRequest) -> contract.CopyReply:
    """RFC 6851: copy, then expunge the originals, in one transaction."""
    async with ctx.uow() as work:
        source, target, rights = await _source_and_target(work.session, request, "rte")
        if source.id == target.id:
            return contract.CopyReply(uidvalidity=target.uidvalidity, source_uids=[], target_uids=[])
        messages = await _selected(work.session, source, request.uids)
        if not messages:
            return contract.CopyReply(uidvalidity=target.uidvalidity, source_uids=[], target_uids=[])
        target_uids = await _copy_into(work, source, target, messages, ctx, rights)
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
        mailbox = await mailbox_for(work.session, request.account, request.mailbox, request.actor, "e", lock=True)
        condition = and_(StoredMessage.mailbox_id == mailbox.id, StoredMessage.deleted.is_(True))
        if request.uids is not None:
            condition = and_(condition, uid_condition(request.uids))
        ids = list(await work.session.scalars(select(StoredMessage.id).where(condition)))
        uids, modseq = await _expunge(work, mailbox, ids)
        return contract.ExpungeReply(expunged=uids, highest_modseq=modseq)


async def vanished(ctx: StorageContext, request: contract.VanishedRequest) -> contract.VanishedReply:
    async with ctx.read() as session:
        found = await _with_mailbox(
            session, request.account, request.mailbox, request.actor, Expunged.uid,
            and_(Expunged.mailbox_id == Mailbox.id, Expunged.modseq > request.since_modseq),
        )  # fmt: skip
        if found is None:
            mailbox = await mailbox_for(session, request.account, request.mailbox, request.actor, "r")
            result = await session.scalars(
                select(Expunged.uid)
                .where(Expunged.mailbox_id == mailbox.id, Expunged.modseq > request.since_modseq)
                .order_by(Expunged.uid)
            )
            found = mailbox, list(result)
        mailbox, listed = found
        return contract.VanishedReply(uids=sorted(set(listed)), highest_modseq=mailbox.highest_modseq)
