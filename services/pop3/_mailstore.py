"""The maildrop in storage: the account's INBOX, read and changed over the bus.

- `scan` takes the scan listing at login: every UID of the INBOX with its
  size and blob, in pages (`storage.rpc.fetch`, `limit`/`next_uid`). The
  unique id shown by UIDL is "<uidvalidity>.<uid>": storage never reuses a
  UID within a UIDVALIDITY, so it is unique and stable across sessions.
- `remove` applies the UPDATE state: it flags exactly the given UIDs
  \\Deleted and expunges exactly those (`expunge` with `uids`), so messages
  an IMAP client flagged \\Deleted itself stay where they are.
- `mark_seen` sets \\Seen on messages sent whole, so an IMAP client of the
  same account sees them as read.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from libs.bus import Bus
from libs.contracts import storage
from libs.contracts.errors import MailboxNotFound
from services.pop3.protocol import Maildrop, MaildropMessage

MAILDROP = "INBOX"
# Messages per fetch reply: with sizes and blob digests, about 200 octets each,
# so a page stays far below the NATS payload limit (1 MiB by default).
PAGE = 1000
# UID ranges per store/expunge request, for the same reason.
RANGES_PER_REQUEST = 1000


def uid_ranges(uids: Iterable[int]) -> list[storage.UidRange]:
    """Ascending, merged ranges: [1, 2, 3, 7] -> 1:3, 7:7."""
    ranges: list[storage.UidRange] = []
    first = last = None
    for uid in sorted(set(uids)):
        if last is not None and uid == last + 1:
            last = uid
            continue
        if first is not None:
            ranges.append(storage.UidRange(first=first, last=last))
        first = last = uid
    if first is not None:
        ranges.append(storage.UidRange(first=first, last=last))
    return ranges


def _chunks(ranges: list[storage.UidRange], size: int = RANGES_PER_REQUEST) -> Iterator[list[storage.UidRange]]:
    for start in range(0, len(ranges), size):
        yield ranges[start : start + size]


class MailStore:
    def __init__(self, bus: Bus, *, timeout: float = 30.0, page: int = PAGE) -> None:
        self.bus = bus
        self.timeout = timeout
        self.page = page

    async def scan(self, account: str) -> Maildrop:
        messages: list[MaildropMessage] = []
        first = 1
        while True:
            request = storage.FetchRequest(
                account=account,
                mailbox=MAILDROP,
                uids=[storage.UidRange(first=first)],
                items=["size", "blob"],
                limit=self.page,
            )
            try:
                reply = await self.bus.request(storage.RPC_FETCH, request, storage.FetchReply, timeout=self.timeout)
            except MailboxNotFound:
                return Maildrop(())
            for meta in reply.messages:
                messages.append(
                    MaildropMessage(
                        uid=meta.uid,
                        size=meta.size or 0,
                        unique_id=f"{reply.uidvalidity}.{meta.uid}",
                        ref=meta.blob or "",
                    )
                )
            if reply.next_uid is None:
                return Maildrop(tuple(messages))
            first = reply.next_uid

    async def remove(self, account: str, uids: Iterable[int]) -> int:
        """Flag exactly `uids` \\Deleted and expunge exactly them; how many storage removed."""
        removed = 0
        for ranges in _chunks(uid_ranges(uids)):
            await self._store(account, ranges, "\\Deleted")
            reply = await self.bus.request(
                storage.RPC_EXPUNGE,
                storage.ExpungeRequest(account=account, mailbox=MAILDROP, uids=ranges),
                storage.ExpungeReply,
                timeout=self.timeout,
            )
            removed += len(reply.expunged)
        return removed

    async def mark_seen(self, account: str, uids: Iterable[int]) -> None:
        for ranges in _chunks(uid_ranges(uids)):
            await self._store(account, ranges, "\\Seen")

    async def _store(self, account: str, ranges: list[storage.UidRange], flag: str) -> None:
        request = storage.StoreFlagsRequest(account=account, mailbox=MAILDROP, uids=ranges, mode="add", flags=[flag])
        await self.bus.request(storage.RPC_STORE_FLAGS, request, storage.StoreFlagsReply, timeout=self.timeout)
