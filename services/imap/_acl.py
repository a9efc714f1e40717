"""ACL commands (RFC 4314): SETACL, DELETEACL, GETACL, LISTRIGHTS, MYRIGHTS, and the rights
SELECT turns into READ-ONLY/READ-WRITE and PERMANENTFLAGS.

Storage keeps the lists and checks every right; this module speaks IMAP:
"+"/"-" of SETACL, the obsolete "c" and "d" rights in what it answers
(RFC 4314 section 2.1.1), and [NOPERM] for what the rights do not allow.
"""

from __future__ import annotations

from libs.contracts import errors
from libs.contracts import storage as contract
from services.imap._context import Completion, Context, no, ok, refusal
from services.imap.protocol import commands as c
from services.imap.protocol import responses

#: RFC 4314 section 2.1.1: "c" stood for what k and x now are, "d" for x, t and e.
_OBSOLETE = (("c", "kx"), ("d", "xte"))
#: Rights that let a session change something in a selected mailbox; without any, SELECT is READ-ONLY.
_WRITING = frozenset("swte")


def with_obsolete(rights: str) -> str:
    """Rights as MYRIGHTS and GETACL answer them: with "c"/"d" when all they stand for are there,
    for clients of RFC 2086."""
    extra = "".join(letter for letter, meaning in _OBSOLETE if set(meaning) <= set(rights))
    return rights + extra


async def handle_setacl(ctx: Context, command: c.SetAcl) -> Completion:
    rights = command.rights
    mode = {"+": "add", "-": "remove"}.get(rights[:1], "replace")
    try:
        await ctx.account_store.set_acl(command.mailbox, command.identifier, rights.lstrip("+-"), mode)
    except errors.ServiceError as exc:
        return refusal(exc)
    return ok()


async def handle_deleteacl(ctx: Context, command: c.DeleteAcl) -> Completion:
    try:
        await ctx.account_store.delete_acl(command.mailbox, command.identifier)
    except errors.ServiceError as exc:
        return refusal(exc)
    return ok()


async def handle_getacl(ctx: Context, command: c.GetAcl) -> Completion:
    try:
        entries = await ctx.account_store.get_acl(command.mailbox)
    except errors.ServiceError as exc:
        return refusal(exc)
    await ctx.emit(responses.acl(command.mailbox, [(who, with_obsolete(rights)) for who, rights in entries]))
    return ok()


async def handle_listrights(ctx: Context, command: c.ListRights) -> Completion:
    """RFC 4314 section 3.4: the owner always has every right; anyone else may get each right
    on its own (this server ties none to another)."""
    try:
        mine = await ctx.account_store.my_rights(command.mailbox)
        if "a" not in mine:
            return no("Permission denied", "NOPERM")
        owner = ctx.account_store.at(command.mailbox).owner
    except errors.ServiceError as exc:
        return refusal(exc)
    if command.identifier.lower() == owner:
        required, optional = contract.ALL_RIGHTS, []
    else:
        required, optional = "", list(contract.ALL_RIGHTS)
    await ctx.emit(responses.listrights(command.mailbox, command.identifier, required, optional))
    return ok()


async def handle_myrights(ctx: Context, command: c.MyRights) -> Completion:
    try:
        rights = await ctx.account_store.my_rights(command.mailbox)
    except errors.ServiceError as exc:
        return refusal(exc)
    await ctx.emit(responses.myrights(command.mailbox, with_obsolete(rights)))
    return ok()


async def selection_rights(ctx: Context, mailbox: str) -> str:
    """The rights SELECT works with (all of them in one's own mailboxes, without asking)."""
    return await ctx.account_store.my_rights(mailbox)


def read_only(rights: str) -> bool:
    return not _WRITING & set(rights)


def permanent_flags(rights: str, flags: tuple[str, ...]) -> list[str]:
    """PERMANENTFLAGS: only the flags the rights allow changing (RFC 4314 section 4)."""
    allowed = [f for f in flags if {"\\Seen": "s", "\\Deleted": "t"}.get(f, "w") in rights]
    return [*allowed, "\\*"] if "w" in rights else allowed


HANDLERS = {
    c.SetAcl: handle_setacl, c.DeleteAcl: handle_deleteacl, c.GetAcl: handle_getacl,
    c.ListRights: handle_listrights, c.MyRights: handle_myrights,
}  # fmt: skip
