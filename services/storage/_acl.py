"""Access control lists over the bus (RFC 4314): set, delete, get, my rights, and the
mailboxes other owners share with an account.

Changing or reading a list needs `a` on the mailbox (the owner always has it).
An identifier is `anyone` or an account the directory knows; the owner's own
rights are implicit and cannot be changed or taken away.
"""

from __future__ import annotations

import unicodedata
from collections import defaultdict

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from libs.contracts import storage as contract
from libs.contracts.errors import BadRequest, MailboxNotFound, NotFound
from services.storage._context import StorageContext
from services.storage._mailboxes import get_mailbox, info, mailbox_for
from services.storage._rights import parse_rights, rights_of, spell
from services.storage.models import Mailbox, MailboxAcl


def canonical_identifier(identifier: str) -> str:
    """As the directory spells addresses (NFC, lower case); `anyone` in any case is `anyone`."""
    return unicodedata.normalize("NFC", identifier).lower()


async def _check_identifier(ctx: StorageContext, owner: str, identifier: str) -> None:
    if identifier == owner:
        raise BadRequest("the owner's rights are implicit and cannot be changed")
    if identifier == contract.ANYONE:
        return
    if identifier.startswith("-"):
        raise BadRequest("negative rights (RFC 4314 section 2) are not supported")
    try:
        await ctx.quotas.limits(identifier)  # the directory's answer: does the account exist?
    except NotFound:
        raise BadRequest(f"no account {identifier}") from None


async def set_acl(ctx: StorageContext, request: contract.AclSetRequest) -> contract.AclReply:
    change = parse_rights(request.rights)
    identifier = canonical_identifier(request.identifier)
    await _check_identifier(ctx, request.account, identifier)
    async with ctx.uow() as work:
        session = work.session
        mailbox = await mailbox_for(session, request.account, request.mailbox, request.actor, "a", lock=True)
        entry = await session.get(MailboxAcl, (mailbox.id, identifier))
        current = frozenset(entry.rights) if entry is not None else frozenset()
        rights = {"replace": change, "add": current | change, "remove": current - change}[request.mode]
        if not rights:
            if entry is not None:
                await session.delete(entry)
        elif entry is None:
            session.add(MailboxAcl(mailbox_id=mailbox.id, identifier=identifier, rights=spell(rights)))
        else:
            entry.rights = spell(rights)
        await session.flush()
        return await _entries(session, mailbox)


async def delete_acl(ctx: StorageContext, request: contract.AclDeleteRequest) -> contract.AclReply:
    identifier = canonical_identifier(request.identifier)
    if identifier == request.account:
        raise BadRequest("the owner's rights are implicit and cannot be removed")
    async with ctx.uow() as work:
        session = work.session
        mailbox = await mailbox_for(session, request.account, request.mailbox, request.actor, "a", lock=True)
        await session.execute(
            delete(MailboxAcl).where(MailboxAcl.mailbox_id == mailbox.id, MailboxAcl.identifier == identifier)
        )
        return await _entries(session, mailbox)


async def get_acl(ctx: StorageContext, request: contract.AclGetRequest) -> contract.AclReply:
    async with ctx.read() as session:
        mailbox = await mailbox_for(session, request.account, request.mailbox, request.actor, "a")
        return await _entries(session, mailbox)


async def my_rights(ctx: StorageContext, request: contract.MyRightsRequest) -> contract.MyRightsReply:
    async with ctx.read() as session:
        # RFC 4314 section 3.5: any right at all lets one ask; none means "no such mailbox".
        mailbox = await get_mailbox(session, request.account, request.mailbox)
        rights = await rights_of(session, mailbox, request.actor)
        if not rights:
            raise MailboxNotFound(f"no_such_mailbox: {mailbox.name}")
        return contract.MyRightsReply(rights=spell(rights))


async def _entries(session: AsyncSession, mailbox: Mailbox) -> contract.AclReply:
    rows = await session.scalars(
        select(MailboxAcl).where(MailboxAcl.mailbox_id == mailbox.id).order_by(MailboxAcl.identifier)
    )
    entries = [contract.AclEntry(identifier=mailbox.account, rights=contract.ALL_RIGHTS)]
    entries += [contract.AclEntry(identifier=row.identifier, rights=row.rights) for row in rows]
    return contract.AclReply(entries=entries)


async def shared_list(ctx: StorageContext, request: contract.SharedListRequest) -> contract.SharedListReply:
    """Other owners' mailboxes `account` may look up, by owner and name."""
    async with ctx.read() as session:
        rows = await session.execute(
            select(Mailbox, MailboxAcl.rights)
            .join(MailboxAcl, MailboxAcl.mailbox_id == Mailbox.id)
            .where(MailboxAcl.identifier.in_((request.account, contract.ANYONE)), Mailbox.account != request.account)
            .order_by(Mailbox.account, Mailbox.name)
        )
        rights: dict[int, set[str]] = defaultdict(set)
        boxes: dict[int, Mailbox] = {}
        for mailbox, letters in rows:
            boxes[mailbox.id] = mailbox
            rights[mailbox.id].update(letters)
        out = []
        for mailbox_id, mailbox in boxes.items():
            have = rights[mailbox_id]
            if "l" not in have:
                continue
            data = await info(session, mailbox, counts=request.with_counts and "r" in have)
            out.append(contract.SharedMailbox(owner=mailbox.account, rights=spell(have), mailbox=data))
        return contract.SharedListReply(mailboxes=out)
