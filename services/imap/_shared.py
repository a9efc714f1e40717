"""The other users' namespace (RFC 2342): another owner's mailbox, as this session names it.

Alice's "Projects", shared with bob, is "Other Users/alice@example.com/Projects"
to him. `locate()` turns such a name into (owner, name in the owner's account,
actor) for storage, which checks the actor's rights; names outside the
namespace are the session's own. `Other Users` and `Other Users/<owner>`
themselves are only levels of the hierarchy, never mailboxes.
"""

from __future__ import annotations

from dataclasses import dataclass

from libs.contracts import errors
from libs.contracts import storage as contract

OTHER_USERS = "Other Users"
PREFIX = OTHER_USERS + "/"
_MAX_ADDRESS = 320  # RFC 5321 path limits, as the storage contract bounds accounts


@dataclass(frozen=True, slots=True)
class Location:
    owner: str
    name: str
    #: The authenticated account when it is not the owner (storage checks its rights).
    actor: str | None = None

    @property
    def shared(self) -> bool:
        return self.actor is not None


def locate(account: str, name: str) -> Location:
    if name != OTHER_USERS and not name.startswith(PREFIX):
        return Location(account, name)
    owner, _, rest = name[len(PREFIX) :].partition("/")
    if not owner or not rest:
        raise errors.MailboxNotFound(f"no_such_mailbox: {name} is a level of the other users' namespace")
    local, at, domain = owner.partition("@")
    if not (local and at and domain) or len(owner) > _MAX_ADDRESS:
        # Not an account's address, so no account shares anything under it.
        raise errors.MailboxNotFound(f"no_such_mailbox: {owner!r} is not an account")
    owner = owner.lower()
    return Location(owner, rest) if owner == account else Location(owner, rest, actor=account)


def shared_name(owner: str, name: str) -> str:
    return f"{PREFIX}{owner}/{name}"


def as_seen_by(account: str, event: contract.MailboxChanged) -> contract.MailboxChanged:
    """An owner's event with its names in this session's namespace (a rename must stay shared)."""
    if event.account == account:
        return event
    return event.model_copy(
        update={
            "mailbox": shared_name(event.account, event.mailbox),
            "new_name": None if event.new_name is None else shared_name(event.account, event.new_name),
        }
    )
