"""Every question the IMAP service asks storage, in one place (`libs/contracts/storage.py`).

The rest of the service never builds a storage request or reads a storage
reply: it calls these methods and gets plain values back (`MessageData`,
`Matches`, `MailboxInfo`), so a change of the storage contract (reply shapes
of fetch and search in particular) is a change of this module only.

Refusals stay the typed errors of `libs.contracts.errors`; the handlers map
them to IMAP response codes in one place (`_handlers.refusal`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from libs.bus import Bus
from libs.contracts import storage as contract

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

    # --- mailboxes ------------------------------------------------------------------------

    async def mailboxes(self, *, with_counts: bool = False) -> list[MailboxInfo]:
        request = contract.MailboxListRequest(account=self.account, with_counts=with_counts)
        return (await self.bus.request(contract.RPC_MAILBOX_LIST, request, contract.MailboxListReply)).mailboxes

    async def status(self, name: str) -> MailboxInfo:
        request = contract.MailboxStatusRequest(account=self.account, name=name)
        return await self.bus.request(contract.RPC_MAILBOX_STATUS, request, contract.MailboxInfo)

    async def create(self, name: str, special_use: str | None = None) -> MailboxInfo:
        request = contract.MailboxCreateRequest(account=self.account, name=name, special_use=special_use)
        return await self.bus.request(contract.RPC_MAILBOX_CREATE, request, contract.MailboxInfo)

    async def rename(self, name: str, new_name: str) -> MailboxInfo:
        request = contract.MailboxRenameRequest(account=self.account, name=name, new_name=new_name)
        return await self.bus.request(contract.RPC_MAILBOX_RENAME, request, contract.MailboxInfo)

    async def delete(self, name: str) -> None:
        request = contract.MailboxDeleteRequest(account=self.account, name=name)
        await self.bus.request(contract.RPC_MAILBOX_DELETE, request, contract.Done)

    async def subscribe(self, name: str, subscribed: bool) -> None:
        request = contract.MailboxSubscribeRequest(account=self.account, name=name, subscribed=subscribed)
        await self.bus.request(contract.RPC_MAILBOX_SUBSCRIBE, request, contract.Done)

    async def quota(self) -> Quota:
        reply = await self.bus.request(
            contract.RPC_QUOTA, contract.QuotaRequest(account=self.account), contract.QuotaReply
        )
        return Quota(reply.bytes_used, reply.messages_used, reply.bytes_limit, reply.messages_limit)

    # --- messages -------------------------------------------------------------------------

    async def uids(self, mailbox: str) -> contract.UidsReply:
        request = contract.UidsRequest(account=self.account, mailbox=mailbox)
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
                    account=self.account, mailbox=mailbox, uids=window, items=wanted,  # type: ignore[arg-type]
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
                account=self.account, mailbox=mailbox, uids=[contract.UidRange(first=first)],
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
                account=self.account, mailbox=mailbox, uids=ranges, mode=mode,  # type: ignore[arg-type]
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
        request = model(account=self.account, mailbox=mailbox, uids=uid_ranges(uids), target=target)
        return await self.bus.request(subject, request, contract.CopyReply, timeout=_WRITE_TIMEOUT)

    async def expunge(self, mailbox: str, uids: Sequence[int] | None = None) -> list[int]:
        request = contract.ExpungeRequest(
            account=self.account, mailbox=mailbox, uids=None if uids is None else uid_ranges(uids)
        )
        reply = await self.bus.request(contract.RPC_EXPUNGE, request, contract.ExpungeReply, timeout=_WRITE_TIMEOUT)
        return list(reply.expunged)

    async def vanished(self, mailbox: str, since_modseq: int) -> list[int]:
        request = contract.VanishedRequest(account=self.account, mailbox=mailbox, since_modseq=since_modseq)
        return list((await self.bus.request(contract.RPC_VANISHED, request, contract.VanishedReply)).uids)

    async def search(self, mailbox: str, criteria: dict[str, Any]) -> Matches:
        """`criteria`: a search tree as `search_key()` builds it."""
        request = contract.SearchRequest(
            account=self.account, mailbox=mailbox, criteria=contract.SearchKey.model_validate(criteria)
        )
        reply = await self.bus.request(contract.RPC_SEARCH, request, contract.SearchReply, timeout=30.0)
        return Matches(tuple(reply.uids), reply.highest_modseq)

    async def append(
        self, mailbox: str, blob: str, *, flags: Sequence[str], internal_date: datetime | None
    ) -> tuple[int, int]:
        """Store an uploaded blob in `mailbox`; answers (uidvalidity, uid) after storage's commit."""
        request = contract.AppendRequest(
            account=self.account, mailbox=mailbox, blob=blob, flags=list(flags), internal_date=internal_date
        )
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
