"""Rights of an account on a mailbox (RFC 4314) and the check every operation makes.

The owner has every right, implicitly; anyone else has the union of its own
entry and the `anyone` entry. An operation that lacks a right is refused with
Forbidden, except when the actor may not look the mailbox up at all (no `l`):
then it is refused exactly as a missing mailbox is (MailboxNotFound), so an
account learns nothing about mailboxes not shared with it (RFC 4314 section 6).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from libs.contracts import storage as contract
from libs.contracts.errors import BadRequest, Forbidden, MailboxNotFound
from services.storage._flags import FlagSet
from services.storage.models import Mailbox, MailboxAcl

ALL = frozenset(contract.ALL_RIGHTS)
#: RFC 4314 section 2.1.1: the obsolete RFC 2086 rights stand for the rights that replaced them.
OBSOLETE = {"c": "kx", "d": "xte"}


def parse_rights(letters: str) -> frozenset[str]:
    """Rights as a client spells them; unknown letters are refused (RFC 4314 section 3.1: BAD/NO)."""
    out: set[str] = set()
    for letter in letters:
        if letter in OBSOLETE:
            out.update(OBSOLETE[letter])
        elif letter in ALL:
            out.add(letter)
        else:
            raise BadRequest(f"unknown right {letter!r}; rights are {contract.ALL_RIGHTS} (and obsolete c, d)")
    return frozenset(out)


def spell(rights: frozenset[str] | set[str]) -> str:
    """Rights in the canonical order of ALL_RIGHTS."""
    return "".join(r for r in contract.ALL_RIGHTS if r in rights)


async def rights_of(session: AsyncSession, mailbox: Mailbox, actor: str | None) -> frozenset[str]:
    if actor is None or actor == mailbox.account:
        return ALL
    rows = await session.scalars(
        select(MailboxAcl.rights).where(
            MailboxAcl.mailbox_id == mailbox.id, MailboxAcl.identifier.in_((actor, contract.ANYONE))
        )
    )
    return frozenset("".join(rows)) & ALL


async def require(session: AsyncSession, mailbox: Mailbox, actor: str | None, needed: str) -> frozenset[str]:
    """The actor's rights, once they are known to hold every right in `needed`."""
    have = await rights_of(session, mailbox, actor)
    missing = set(needed) - have
    if missing:
        if "l" not in have:
            raise MailboxNotFound(f"no_such_mailbox: {mailbox.name}")
        raise Forbidden(f"no_permission: missing right {spell(missing)} on {mailbox.name}")
    return have


#: The right each flag column needs (RFC 4314 section 4): \\Seen s, \\Deleted t, the others (and keywords) w.
FLAG_RIGHTS = {"seen": "s", "deleted": "t", "answered": "w", "flagged": "w", "draft": "w"}
FLAG_WRITING = frozenset("swt")


def restrict(old: FlagSet, new: FlagSet, have: frozenset[str]) -> FlagSet:
    """`new`, except that a flag the rights do not allow changing keeps its `old` state.

    As Cyrus and Dovecot do, a STORE (or the flags of an APPEND or COPY) silently
    leaves alone the flags the user may not change; a STORE by a user who may
    change no flag at all is refused before this.
    """
    if {"s", "w", "t"} <= have:
        return new
    system = {c for c in new.system if FLAG_RIGHTS[c] in have} | {c for c in old.system if FLAG_RIGHTS[c] not in have}
    keywords = new.keywords if "w" in have else old.keywords
    return FlagSet(frozenset(system), keywords)
