"""Every question the IMAP service asks storage, in one place (`libs/contracts/storage.py`).

The rest of the service never builds a storage request or reads a storage
reply: it calls these methods and gets plain values back (`MessageData`,
`Matches`, `MailboxInfo`), so a change of the storage contract (reply shapes
of fetch and search in particular) is a change of this module only.

Refusals stay the typed errors of `libs.contracts.errors`; the handlers map
them to IMAP response codes in one place (`_handlers.refusal`).

Mailbox names are the session's: a name in the other users' namespace
(`_shared.locate`) is sent as the owner's mailbox with this account as the
actor, and storage checks the actor's rights (RFC 4314).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from libs.bus import Bus
from libs.contracts import errors
from libs.contracts import storage as contract
from services.imap._shared import Location, locate, shared_name

MailboxInfo = contract.MailboxInfo
MailboxChanged = contract.MailboxChanged
ChangeKind = contract.ChangeKind
mailbox_changed_subject = contract.mailbox_changed_subject

#: Fetchable metadata, as `MessageData` fields: flags envelope structure headers internal_date size blob modseq.
FETCH_ITEMS = frozenset({"flags", "envelope", "structure", "headers", "internal_date", "size", "blob", "modseq"})
_RANGES_PER_REQUEST = 5000
_PAGE = 1000
_WRITE_TIMEOUT = 60.0


@dataclass(frozen=True, slots=True)
class MessageData:
    uid: int
    modseq: int
    flags: tuple[str, ...] | None = None
    internal_date: datetime | None = None
    size: int | None = None
    blob: str | None = None
    envelope: dict[str, Any] | None = None
    structure: dict[str, Any] | None = None
    headers: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Matches:
    uids: tuple[int, ...]
    highest_modseq: int | None


@dataclass(frozen=True, slots=True)
class Quota:
    bytes_used: int
    messages_used: int
    bytes_limit: int | None
    messages_limit: int | None


def uid_ranges(uids: Iterable[int]) -> list[contract.UidRange]:
    """Sorted UIDs as few inclusive ranges."""
    ranges: list[list[int]] = []
    for uid in sorted(set(uids)):
        if ranges and uid == ranges[-1][1] + 1:
            ranges[-1][1] = uid
        else:
            ranges.append([uid, uid])
    return [contract.UidRange(first=a, last=b) for a, b in ranges]


def _chunks(ranges: list[contract.UidRange]) -> list[list[contract.UidRange]]:
    return [ranges[i : i + _RANGES_PER_REQUEST] for i in range(0, len(ranges), _RANGES_PER_REQUEST)] or [[]]


class Store:
    """Storage for one account (the authenticated user)."""

    def __init__(self, bus: Bus, account: str) -> None:
        self.bus = bus
        self.account = account

    def at(self, name: str) -> Location:
        """Where a mailbox name of this session is: whose, named how there, acted on by whom."""
        return locate(self.account, name)

    def _where(self, name: str) -> dict[str, Any]:
        """The `account`/`actor` fields of a request about mailbox `name` (a shared one or our own)."""
        where = self.at(name)
        return {"account": where.owner, "actor": where.actor}

    # --- mailboxes ------------------------------------------------------------------------

    async def mailboxes(self, *, with_counts: bool = False) -> list[MailboxInfo]:
        """Our own mailboxes, then those other owners share with us, under their shared names.
        Shared mailboxes count as subscribed (their subscription is the owner's to keep)."""
        request = contract.MailboxListRequest(account=self.account, with_counts=with_counts)
        own = (await self.bus.request(contract.RPC_MAILBOX_LIST, request, contract.MailboxListReply)).mailboxes
        shared = await self.bus.request(
            contract.RPC_SHARED_LIST,
            contract.SharedListRequest(account=self.account, with_counts=with_counts),
            contract.SharedListReply,
        )
        return own + [
            m.mailbox.model_copy(update={"name": shared_name(m.owner, m.mailbox.name), "subscribed": True})
            for m in shared.mailboxes
        ]

    async def status(self, name: str) -> MailboxInfo:
        where = self.at(name)
        request = contract.MailboxStatusRequest(account=where.owner, name=where.name, actor=where.actor)
        return await self.bus.request(contract.RPC_MAILBOX_STATUS, request, contract.MailboxInfo)

    async def create(self, name: str, special_use: str | None = None) -> MailboxInfo:
        where = self.at(name)
        request = contract.MailboxCreateRequest(
            account=where.owner, actor=where.actor, name=where.name, special_use=special_use
        )
        return await self.bus.request(contract.RPC_MAILBOX_CREATE, request, contract.MailboxInfo)

    async def rename(self, name: str, new_name: str) -> MailboxInfo:
        where, to = self.at(name), self.at(new_name)
        if where.owner != to.owner:
            raise errors.BadRequest("a mailbox cannot be renamed into another owner's mailboxes")
        request = contract.MailboxRenameRequest(
            account=where.owner, actor=where.actor, name=where.name, new_name=to.name
        )
        return await self.bus.request(contract.RPC_MAILBOX_RENAME, request, contract.MailboxInfo)

    async def delete(self, name: str) -> None:
        where = self.at(name)
        request = contract.MailboxDeleteRequest(account=where.owner, actor=where.actor, name=where.name)
        await self.bus.request(contract.RPC_MAILBOX_DELETE, request, contract.Done)

    async def subscribe(self, name: str, subscribed: bool) -> None:
        if self.at(name).shared:
            # Shared mailboxes are always listed as subscribed: the flag is the owner's. Only
            # check that the mailbox is one we may know of (RFC 4314 section 6).
            await self.my_rights(name)
            return
        request = contract.MailboxSubscribeRequest(account=self.account, name=name, subscribed=subscribed)
        await self.bus.request(contract.RPC_MAILBOX_SUBSCRIBE, request, contract.Done)

    # --- access control lists (RFC 4314) ----------------------------------------------------

    async def my_rights(self, name: str) -> str:
        where = self.at(name)
        if not where.shared:
            return contract.ALL_RIGHTS  # the owner has every right; no need to ask
        request = contract.MyRightsRequest(account=where.owner, actor=where.actor, mailbox=where.name)
        return (await self.bus.request(contract.RPC_MY_RIGHTS, request, contract.MyRightsReply)).rights

    async def get_acl(self, name: str) -> list[tuple[str, str]]:
        where = self.at(name)
        request = contract.AclGetRequest(account=where.owner, actor=where.actor, mailbox=where.name)
        reply = await self.bus.request(contract.RPC_ACL_GET, request, contract.AclReply)
        return [(e.identifier, e.rights) for e in reply.entries]

    async def set_acl(self, name: str, identifier: str, rights: str, mode: str) -> None:
        where = self.at(name)
        request = contract.AclSetRequest(
            account=where.owner, actor=where.actor, mailbox=where.name, identifier=identifier, rights=rights,
            mode=mode,  # type: ignore[arg-type]
        )  # fmt: skip
        await self.bus.request(contract.RPC_ACL_SET, request, contract.AclReply, timeout=_WRITE_TIMEOUT)

    async def delete_acl(self, name: str, identifier: str) -> None:
        where = self.at(name)
        request = contract.AclDeleteRequest(
            account=where.owner, actor=where.actor, mailbox=where.name, identifier=identifier
        )
        await self.bus.request(contract.RPC_ACL_DELETE, request, contract.AclReply, timeout=_WRITE_TIMEOUT)

    async def quota(self) -> Quota:
        reply = await self.bus.request(
            contract.RPC_QUOTA, contract.QuotaRequest(account=self.account), contract.QuotaReply
        )
        return Quota(reply.bytes_used, reply.messages_used, reply.bytes_limit, reply.messages_limit)

    # --- messages -------------------------------------------------------------------------

    async def uids(self, mailbox: str) -> contract.UidsReply:
        request = contract.UidsRequest(**self._where(mailbox), mailbox=self.at(mailbox).name)
        return await self.bus.request(contract.RPC_UIDS, request, contract.UidsReply)

    async def fetch(
        self, mailbox: str, uids: Sequence[int], items: Iterable[str], *, changed_since: int | None = None
    ) -> list[MessageData]:
        """Metadata of `uids` (those that still exist), in UID order, every page collected."""
        wanted = sorted(set(items) & FETCH_ITEMS) or ["flags"]
        out: list[MessageData] = []
        for ranges in _chunks(uid_ranges(uids)):
            if not ranges:
                break
            first: int | None = ranges[0].first
            while first is not None:
                window = [r for r in ranges if (r.last or first) >= first]
                window[0] = contract.UidRange(first=max(first, window[0].first), last=window[0].last)
                request = contract.FetchRequest(
                    **self._where(mailbox), mailbox=self.at(mailbox).name, uids=window, items=wanted,  # type: ignore[arg-type]
                    changed_since=changed_since, limit=_PAGE,
                )  # fmt: skip
                reply = await self.bus.request(contract.RPC_FETCH, request, contract.FetchReply, timeout=30.0)
                out.extend(_message(m) for m in reply.messages)
                first = reply.next_uid
        return out

    async def fetch_all(self, mailbox: str, items: Iterable[str], *, changed_since: int) -> list[MessageData]:
        """Every message changed since a MODSEQ (QRESYNC resynchronisation at SELECT)."""
        out: list[MessageData] = []
        first: int | None = 1
        while first is not None:
            request = contract.FetchRequest(
                **self._where(mailbox), mailbox=self.at(mailbox).name, uids=[contract.UidRange(first=first)],
                items=sorted(set(items) & FETCH_ITEMS), changed_since=changed_since, limit=_PAGE,  # type: ignore[arg-type]
            )  # fmt: skip
            reply = await self.bus.request(contract.RPC_FETCH, request, contract.FetchReply, timeout=30.0)
            out.extend(_message(m) for m in reply.messages)
            first = reply.next_uid
        return out

    async def store_flags(
        self, mailbox: str, uids: Sequence[int], *, mode: str, flags: Sequence[str], unchanged_since: int | None
    ) -> tuple[list[tuple[int, int, tuple[str, ...]]], list[int]]:
        """Change flags; answers (uid, modseq, flags) of changed messages and the UIDs UNCHANGEDSINCE refused."""
        changed: list[tuple[int, int, tuple[str, ...]]] = []
        modified: list[int] = []
        for ranges in _chunks(uid_ranges(uids)):
            if not ranges:
                break
            request = contract.StoreFlagsRequest(
                **self._where(mailbox), mailbox=self.at(mailbox).name, uids=ranges, mode=mode,  # type: ignore[arg-type]
                flags=list(flags), unchanged_since=unchanged_since,
            )  # fmt: skip
            reply = await self.bus.request(
                contract.RPC_STORE_FLAGS, request, contract.StoreFlagsReply, timeout=_WRITE_TIMEOUT
            )
            changed.extend((c.uid, c.modseq, tuple(c.flags)) for c in reply.changed)
            modified.extend(reply.modified)
        return changed, modified

    async def copy(self, mailbox: str, uids: Sequence[int], target: str, *, move: bool) -> contract.CopyReply:
        model = contract.MoveRequest if move else contract.CopyRequest
        subject = contract.RPC_MOVE if move else contract.RPC_COPY
        where, to = self.at(mailbox), self.at(target)
        request = model(
            account=where.owner, actor=where.actor or to.actor, mailbox=where.name, uids=uid_ranges(uids),
            target=to.name, target_account=to.owner if to.owner != where.owner else None,
        )  # fmt: skip
        return await self.bus.request(subject, request, contract.CopyReply, timeout=_WRITE_TIMEOUT)

    async def expunge(self, mailbox: str, uids: Sequence[int] | None = None) -> list[int]:
        request = contract.ExpungeRequest(
            **self._where(mailbox), mailbox=self.at(mailbox).name, uids=None if uids is None else uid_ranges(uids)
        )
        reply = await self.bus.request(contract.RPC_EXPUNGE, request, contract.ExpungeReply, timeout=_WRITE_TIMEOUT)
        return list(reply.expunged)

    async def vanished(self, mailbox: str, since_modseq: int) -> list[int]:
        request = contract.VanishedRequest(
            **self._where(mailbox), mailbox=self.at(mailbox).name, since_modseq=since_modseq
        )
        return list((await self.bus.request(contract.RPC_VANISHED, request, contract.VanishedReply)).uids)

    async def search(self, mailbox: str, criteria: dict[str, Any]) -> Matches:
        """`criteria`: a search tree as `search_key()` builds it."""
        request = contract.SearchRequest(
            **self._where(mailbox), mailbox=self.at(mailbox).name, criteria=contract.SearchKey.model_validate(criteria)
        )
        reply = await self.bus.request(contract.RPC_SEARCH, request, contract.SearchReply, timeout=30.0)
        return Matches(tuple(reply.uids), reply.highest_modseq)

    async def append(
        self, mailbox: str, blob: str, *, flags: Sequence[str], internal_date: datetime | None
    ) -> tuple[int, int]:
        """Store an uploaded blob in `mailbox`; answers (uidvalidity, uid) after storage's commit."""
        request = contract.AppendRequest(
            **self._where(mailbox), mailbox=self.at(mailbox).name, blob=blob, flags=list(flags),
            internal_date=internal_date,
        )  # fmt: skip
        reply = await self.bus.request(contract.RPC_APPEND, request, contract.AppendReply, timeout=_WRITE_TIMEOUT)
        return reply.uidvalidity, reply.uid


def search_key(op: str, **fields: Any) -> dict[str, Any]:
    """One node of the storage search tree (`op` is a storage search op, see the contract)."""
    return {"op": op, **{k: v for k, v in fields.items() if v is not None}}


def uid_set(uids: Iterable[int]) -> list[dict[str, int | None]]:
    return [r.model_dump() for r in uid_ranges(uids)]


def _message(meta: contract.MessageMeta) -> MessageData:
    return MessageData(
        uid=meta.uid,
        modseq=meta.modseq,
        flags=None if meta.flags is None else tuple(meta.flags),
        internal_date=meta.internal_date,
        size=meta.size,
        blob=meta.blob,
        envelope=meta.envelope_dict(),
        structure=meta.structure_dict(),
        headers=meta.headers,
    )


def parse_change(data: bytes) -> MailboxChanged:
    return MailboxChanged.model_validate_json(data)
