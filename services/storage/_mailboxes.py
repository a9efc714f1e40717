"""Mailboxes of an account: list, create, rename (with children), delete, subscribe, status.

An account's default mailboxes (INBOX, Sent, Drafts, Trash, Junk, Archive
with their SPECIAL-USE roles) are created when the directory announces the
account, and also lazily on first use, so an account created while storage
was down still gets them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import case, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from libs.contracts import storage as contract
from libs.contracts.errors import BadRequest, Conflict, Forbidden, MailboxExists, MailboxNotFound
from libs.db.unit_of_work import Work
from services.storage._blobrefs import drop_refs
from services.storage._context import StorageContext
from services.storage._fts import delete_text
from services.storage._names import SEPARATOR, canonical_name, is_child
from services.storage._quota import remove_usage
from services.storage._rights import require
from services.storage.models import Mailbox, MailboxAcl, Meta, StoredMessage, utcnow

UIDVALIDITY_KEY = "last_uidvalidity"


def _insert(session: AsyncSession):  # type: ignore[no-untyped-def]
    return pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert


async def next_uidvalidity(session: AsyncSession) -> int:
    """Strictly increasing across the server: max(now in seconds, last + 1), within 32 bits.

    One atomic UPDATE ... RETURNING, so concurrent creators (any replica) never get the same value.
    """
    now = int(time.time()) & 0xFFFFFFFF
    bump = (
        update(Meta)
        .where(Meta.key == UIDVALIDITY_KEY)
        .values(value=case((Meta.value < now, now), else_=Meta.value + 1))
        .returning(Meta.value)
    )
    value = await session.scalar(bump)
    if value is None:
        await session.execute(
            _insert(session)(Meta).values(key=UIDVALIDITY_KEY, value=0).on_conflict_do_nothing(index_elements=["key"])
        )
        value = await session.scalar(bump)
    return int(value) & 0xFFFFFFFF or 1


async def ensure_defaults(session: AsyncSession, account: str) -> bool:
    """Create the default mailboxes if the account has none; True when it did.

    Provisioning (on the directory's event) and a first delivery can race:
    ON CONFLICT DO NOTHING makes the loser wait for the winner and add nothing.
    """
    if await session.scalar(select(Mailbox.id).where(Mailbox.account == account).limit(1)) is not None:
        return False
    insert = _insert(session)
    created = False
    for name, special_use in contract.DEFAULT_MAILBOXES:
        row = {
            "account": account,
            "name": name,
            "uidvalidity": await next_uidvalidity(session),
            "uidnext": 1,
            "highest_modseq": 1,
            "special_use": special_use,
            "subscribed": True,
            "created_at": utcnow(),
        }
        result = await session.execute(
            insert(Mailbox).values(**row).on_conflict_do_nothing(index_elements=["account", "name"])
        )
        created = created or result.rowcount == 1
    return created


async def get_mailbox(session: AsyncSession, account: str, name: str, *, lock: bool = False) -> Mailbox:
    canonical = canonical_name(name)
    query = select(Mailbox).where(Mailbox.account == account, Mailbox.name == canonical)
    if lock:
        query = query.with_for_update()
    mailbox = await session.scalar(query)
    if mailbox is None and canonical == "INBOX":
        # First use of an account: create its mailboxes (or wait for whoever is creating them).
        await ensure_defaults(session, account)
        mailbox = await session.scalar(query)
    if mailbox is None:
        raise MailboxNotFound(f"no_such_mailbox: {canonical}")
    return mailbox


async def mailbox_for(
    session: AsyncSession, account: str, name: str, actor: str | None, needed: str, *, lock: bool = False
) -> Mailbox:
    """`account`'s mailbox, once `actor` is known to hold the rights in `needed` on it."""
    mailbox = await get_mailbox(session, account, name, lock=lock)
    await require(session, mailbox, actor, needed)
    return mailbox


async def _parent_for(session: AsyncSession, account: str, name: str, actor: str | None) -> Mailbox | None:
    """The parent of a mailbox about to be made (by CREATE or RENAME), checked for `k` (RFC 4314
    section 4) when someone else than the owner makes it; None at the top level, where only the
    owner creates."""
    parent = name.rpartition(SEPARATOR)[0]
    if actor is None or actor == account:
        return await session.scalar(select(Mailbox).where(Mailbox.account == account, Mailbox.name == parent))
    if not parent:
        raise Forbidden("no_permission: only the owner creates top-level mailboxes")
    return await mailbox_for(session, account, parent, actor, "k")


def _counts() -> tuple[Any, ...]:
    """STATUS counts over a mailbox's messages (rows of an outer join count no message when empty):
    messages, unseen, deleted, size, first unseen UID."""
    return (
        func.count(StoredMessage.id),
        func.sum(case((StoredMessage.seen.is_(False), 1), else_=0)),
        func.sum(case((StoredMessage.deleted.is_(True), 1), else_=0)),
        func.coalesce(func.sum(StoredMessage.size), 0),
        func.min(case((StoredMessage.seen.is_(False), StoredMessage.uid), else_=None)),
    )


def _with_counts(data: contract.MailboxInfo, row: Sequence[Any]) -> contract.MailboxInfo:
    return data.model_copy(
        update={
            "messages": int(row[0] or 0),
            "unseen": int(row[1] or 0),
            "deleted": int(row[2] or 0),
            "size": int(row[3] or 0),
            "first_unseen_uid": int(row[4]) if row[4] is not None else None,
        }
    )


async def info(
    session: AsyncSession, mailbox: Mailbox, *, names: set[str] | None = None, counts: bool = True
) -> contract.MailboxInfo:
    data = contract.MailboxInfo(
        name=mailbox.name,
        mailbox_id=mailbox.id,
        uidvalidity=mailbox.uidvalidity,
        uidnext=mailbox.uidnext,
        highest_modseq=mailbox.highest_modseq,
        special_use=mailbox.special_use,
        subscribed=mailbox.subscribed,
        has_children=any(is_child(n, mailbox.name) for n in names) if names is not None else False,
    )
    if not counts:
        return data
    row = (await session.execute(select(*_counts()).where(StoredMessage.mailbox_id == mailbox.id))).one()
    return _with_counts(data, row)


async def list_mailboxes(ctx: StorageContext, request: contract.MailboxListRequest) -> contract.MailboxListReply:
    async with ctx.uow() as work:
        await ensure_defaults(work.session, request.account)
        boxes = list(
            await work.session.scalars(select(Mailbox).where(Mailbox.account == request.account).order_by(Mailbox.name))
        )
        names = {b.name for b in boxes}
        return contract.MailboxListReply(
            mailboxes=[await info(work.session, b, names=names, counts=request.with_counts) for b in boxes]
        )


async def mailbox_status(ctx: StorageContext, request: contract.MailboxStatusRequest) -> contract.MailboxInfo:
    # A read-only session answers for a mailbox that exists, with its row and its counts from one
    # statement: no write transaction, no wait for the writer. Only a missing mailbox takes the
    # write path, where a first INBOX is created.
    async with ctx.read() as session:
        query = (
            select(Mailbox, *_counts())
            .outerjoin(StoredMessage, StoredMessage.mailbox_id == Mailbox.id)
            .where(Mailbox.account == request.account, Mailbox.name == canonical_name(request.name))
            .group_by(Mailbox.id)
        )
        row = (await session.execute(query)).first()
        if row is not None:
            mailbox = row[0]
            await require(session, mailbox, request.actor, "r")
            return _with_counts(await info(session, mailbox, counts=False), row[1:])
    async with ctx.uow() as work:
        mailbox = await mailbox_for(work.session, request.account, request.name, request.actor, "r")
        return await info(work.session, mailbox)


def _changed(work: Work, mailbox: Mailbox, kind: contract.ChangeKind, new_name: str | None = None) -> None:
    work.publish(
        contract.MailboxChanged(
            account=mailbox.account,
            mailbox=mailbox.name,
            mailbox_id=mailbox.id,
            uidvalidity=mailbox.uidvalidity,
            kind=kind,
            modseq=mailbox.highest_modseq,
            new_name=new_name,
        )
    )


async def create_mailbox(ctx: StorageContext, request: contract.MailboxCreateRequest) -> contract.MailboxInfo:
    name = canonical_name(request.name)
    if request.special_use is not None and request.special_use not in contract.SPECIAL_USES:
        raise BadRequest(f"unknown special use {request.special_use!r}")
    async with ctx.uow() as work:
        await ensure_defaults(work.session, request.account)
        parent = await _parent_for(work.session, request.account, name, request.actor)
        if await _exists(work.session, request.account, name):
            raise MailboxExists(f"mailbox_exists: {name}")
        mailbox = Mailbox(
            account=request.account,
            name=name,
            uidvalidity=await next_uidvalidity(work.session),
            uidnext=1,
            highest_modseq=1,
            special_use=request.special_use,
            subscribed=True,
        )
        work.session.add(mailbox)
        await work.session.flush()
        if parent is not None:
            await _inherit_acl(work.session, parent, mailbox)
        _changed(work, mailbox, contract.ChangeKind.MAILBOX_CREATED)
        return await info(work.session, mailbox, counts=False)


async def _inherit_acl(session: AsyncSession, parent: Mailbox, child: Mailbox) -> None:
    """A new mailbox starts with its parent's access control list (as Cyrus does), so what is
    shared stays shared below it and whoever created it with `k` can see it."""
    for entry in list(await session.scalars(select(MailboxAcl).where(MailboxAcl.mailbox_id == parent.id))):
        session.add(MailboxAcl(mailbox_id=child.id, identifier=entry.identifier, rights=entry.rights))


async def _exists(session: AsyncSession, account: str, name: str) -> bool:
    return await session.scalar(select(Mailbox.id).where(Mailbox.account == account, Mailbox.name == name)) is not None


async def rename_mailbox(ctx: StorageContext, request: contract.MailboxRenameRequest) -> contract.MailboxInfo:
    new_name = canonical_name(request.new_name)
    async with ctx.uow() as work:
        session = work.session
        # RFC 4314 section 4: RENAME needs x on the mailbox and k on the new parent.
        mailbox = await mailbox_for(session, request.account, request.name, request.actor, "x", lock=True)
        if request.actor not in (None, request.account):
            if mailbox.name == "INBOX":
                raise Forbidden("no_permission: only the owner renames INBOX")
            await _parent_for(session, request.account, new_name, request.actor)
        if await _exists(session, request.account, new_name):
            raise MailboxExists(f"mailbox_exists: {new_name}")
        if is_child(new_name, mailbox.name):
            raise BadRequest("a mailbox cannot be renamed into its own child")
        old_name = mailbox.name
        if old_name == "INBOX":
            # RFC 9051 section 6.3.6: renaming INBOX moves its messages and leaves an empty INBOX.
            mailbox.name = new_name
            mailbox.special_use = None
            await session.flush()
            session.add(
                Mailbox(
                    account=request.account,
                    name="INBOX",
                    uidvalidity=await next_uidvalidity(session),
                    uidnext=1,
                    highest_modseq=1,
                    subscribed=True,
                )
            )
        else:
            children = await session.scalars(
                select(Mailbox).where(Mailbox.account == request.account, Mailbox.name.startswith(old_name + SEPARATOR))
            )
            for child in children:
                child.name = new_name + child.name[len(old_name) :]
            mailbox.name = new_name
        await session.flush()
        _changed(work, mailbox, contract.ChangeKind.MAILBOX_RENAMED, new_name=new_name)
        return await info(session, mailbox, counts=False)


async def delete_mailbox(ctx: StorageContext, request: contract.MailboxDeleteRequest) -> contract.Done:
    async with ctx.uow() as work:
        session = work.session
        mailbox = await mailbox_for(session, request.account, request.name, request.actor, "x", lock=True)
        if mailbox.name == "INBOX":
            raise BadRequest("INBOX cannot be deleted")
        child = await session.scalar(
            select(Mailbox.id)
            .where(Mailbox.account == request.account, Mailbox.name.startswith(mailbox.name + SEPARATOR))
            .limit(1)
        )
        if child is not None:
            raise Conflict(f"{mailbox.name} has child mailboxes; delete them first")
        await purge_messages(session, mailbox, select(StoredMessage).where(StoredMessage.mailbox_id == mailbox.id))
        await session.delete(mailbox)
        _changed(work, mailbox, contract.ChangeKind.MAILBOX_DELETED)
        return contract.Done()


async def purge_messages(session: AsyncSession, mailbox: Mailbox, query) -> list[StoredMessage]:  # type: ignore[no-untyped-def]
    """Delete the messages `query` selects, with their text index rows, blob refs and quota use."""
    messages = list(await session.scalars(query))
    if not messages:
        return []
    ids = [m.id for m in messages]
    await delete_text(session, ids)
    refs: dict[str, int] = {}
    for m in messages:
        refs[m.blob] = refs.get(m.blob, 0) + 1
    await drop_refs(session, refs)
    await remove_usage(session, mailbox.account, size=sum(m.size for m in messages), count=len(messages))
    for chunk in range(0, len(ids), 500):
        await session.execute(delete(StoredMessage).where(StoredMessage.id.in_(ids[chunk : chunk + 500])))
    return messages


async def subscribe_mailbox(ctx: StorageContext, request: contract.MailboxSubscribeRequest) -> contract.Done:
    async with ctx.uow() as work:
        mailbox = await get_mailbox(work.session, request.account, request.name)
        await work.session.execute(
            update(Mailbox).where(Mailbox.id == mailbox.id).values(subscribed=request.subscribed)
        )
        return contract.Done()
