"""The selected mailbox: the sequence-number <-> UID map and the changes not yet told to the client.

How this works
--------------
SELECT loads every UID of the mailbox (`storage.rpc.uids`); sequence number
n is `uids[n-1]`. Changes made by other sessions (and SMTP deliveries) arrive
as `storage.mailbox.changed.<account>` events; they only mark the map as
stale and remember which UIDs had their flags changed. At the points where
RFC 9051 section 7 allows untagged updates (NOOP, IDLE, the end of most
commands) `updates()` reloads the UID list, and reports:

- removed UIDs as `EXPUNGE n` (or `VANISHED` once QRESYNC is on), but only
  where expunges may be sent: RFC 9051 section 7.5.1 (RFC 3501 7.4.1) forbids
  them while answering FETCH, STORE or SEARCH, when the sequence numbers
  the client uses must not shift. Until then the removed UIDs keep their
  place in the map;
- new UIDs as `EXISTS`;
- flag changes as `FETCH (FLAGS ...)`, with UID and MODSEQ once CONDSTORE is on.

Our own changes are reported by the command that made them; their events
are recognised by MODSEQ (flags) or by the UIDs being gone already (expunge).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable

from libs.contracts import errors
from services.imap import _store
from services.imap.protocol import SeqRange, SequenceSet, responses

_OWN_MODSEQS = 256


class MailboxGone(Exception):
    """The selected mailbox was deleted (or replaced) by another session."""


class SelectedMailbox:
    def __init__(
        self, name: str, *, uidvalidity: int, uids: list[int], highest_modseq: int, read_only: bool,
        mailbox_id: int | None = None,
    ) -> None:  # fmt: skip
        self.name = name
        self.mailbox_id = mailbox_id
        self.uidvalidity = uidvalidity
        self.uids = uids
        self.highest_modseq = highest_modseq
        self.read_only = read_only
        self.stale = False
        #: Deleted by another session; the session ends with BYE (RFC 9051 section 7.1.5).
        self.gone = False
        self.flag_changes: set[int] = set()
        self._flag_events: list[tuple[int, list[int]]] = []
        self.saved: list[int] = []  # SEARCHRES (RFC 5182): UIDs of "$"
        self._own_modseqs: list[int] = []

    # --- the map ------------------------------------------------------------------------------

    @property
    def exists(self) -> int:
        return len(self.uids)

    def seq_of(self, uid: int) -> int | None:
        index = bisect.bisect_left(self.uids, uid)
        return index + 1 if index < len(self.uids) and self.uids[index] == uid else None

    def resolve(self, sequence_set: SequenceSet, *, uid: bool) -> list[int]:
        """The UIDs a sequence set names (RFC 9051 section 9), ascending.

        For UID sets, `*` is the highest UID and UIDs that do not exist are
        ignored (section 6.4.8); `$` is the saved search result (RFC 5182).
        """
        if sequence_set.saved:
            known = set(self.uids)
            return [u for u in self.saved if u in known]
        if not uid:
            count = len(self.uids)
            out = []
            for r in sequence_set.ranges:
                low, high = r.bounds(count)
                out.extend(self.uids[max(low, 1) - 1 : min(high, count)])
            return sorted(set(out))
        if not self.uids:
            return []
        largest = self.uids[-1]
        out = []
        for r in sequence_set.ranges:
            low, high = r.bounds(largest)
            out.extend(self.uids[bisect.bisect_left(self.uids, low) : bisect.bisect_right(self.uids, high)])
        return sorted(set(out))

    def all_seq_in(self, sequence_set: SequenceSet) -> bool:
        """Whether every sequence number named exists (RFC 9051 6.4: a bad number is BAD).

        A range with `*` is always valid: `1:*` in an empty mailbox names nothing,
        which is how clients ask for "everything" without knowing the count.
        """
        if sequence_set.saved:
            return True
        count = len(self.uids)
        return all(
            r.first is None or r.last is None or (r.first <= count and r.last <= count) for r in sequence_set.ranges
        )

    # --- changes --------------------------------------------------------------------------------

    def note_own_modseq(self, modseq: int) -> None:
        self._own_modseqs.append(modseq)
        del self._own_modseqs[:-_OWN_MODSEQS]
        self.highest_modseq = max(self.highest_modseq, modseq)

    def forget(self, uids: Iterable[int]) -> list[int]:
        """Take our own expunged UIDs out of the map; answers their sequence numbers, highest first."""
        gone = set(uids)
        seqs = [i + 1 for i, u in enumerate(self.uids) if u in gone]
        self.uids = [u for u in self.uids if u not in gone]
        self.flag_changes -= gone
        return sorted(seqs, reverse=True)

    def apply(self, event: _store.MailboxChanged) -> bool:
        """Note an event of this account; answers whether it concerns this mailbox."""
        # The id survives a rename (the event of a rename carries the new name).
        same = event.mailbox_id == self.mailbox_id if self.mailbox_id is not None else event.mailbox == self.name
        if not same or event.uidvalidity != self.uidvalidity:
            return False
        if event.kind is _store.ChangeKind.FLAGS:
            if event.modseq in self._own_modseqs:
                return False
            # Sorted out in updates(): the event of our own STORE may arrive before its reply.
            self._flag_events.append((event.modseq, list(event.uids)))
        elif event.kind is _store.ChangeKind.EXPUNGED:
            if not any(self.seq_of(u) for u in event.uids):
                return False
            self.stale = True
        elif event.kind is _store.ChangeKind.ADDED:
            if self.uids and all(u <= self.uids[-1] for u in event.uids):
                return False
            self.stale = True
        elif event.kind is _store.ChangeKind.MAILBOX_RENAMED and event.new_name and self.name != "INBOX":
            self.name = event.new_name  # renamed by another session: follow it (same messages)
        elif event.kind is _store.ChangeKind.MAILBOX_DELETED:
            self.gone = True
        else:
            self.stale = True
        return True

    @property
    def pending(self) -> bool:
        return self.stale or self.gone or bool(self.flag_changes or self._flag_events)

    async def updates(
        self, store: _store.Store, *, allow_expunge: bool, condstore: bool, qresync: bool
    ) -> list[responses.Response]:
        """Untagged responses that bring the client up to date (module docstring)."""
        out: list[responses.Response] = []
        if self.gone:
            raise MailboxGone(self.name)
        if self.stale:
            self.stale = False
            try:
                current = await store.uids(self.name)
            except errors.MailboxNotFound:
                raise MailboxGone(self.name) from None
            if current.uidvalidity != self.uidvalidity:
                raise MailboxGone(self.name)  # deleted and created again: our UIDs mean nothing now
            now = set(current.uids)
            removed = [u for u in self.uids if u not in now]
            if removed and allow_expunge:
                if qresync:
                    self.forget(removed)
                    out.append(responses.vanished(compact(removed)))
                else:
                    out.extend(responses.expunge(n) for n in self.forget(removed))
            elif removed:
                self.stale = True  # told later, where an EXPUNGE may be sent
            largest = self.uids[-1] if self.uids else 0
            new = [u for u in current.uids if u > largest]
            if new:
                self.uids.extend(new)
                out.append(responses.exists(len(self.uids)))
            self.highest_modseq = max(self.highest_modseq, current.highest_modseq)
        events, self._flag_events = self._flag_events, []
        for modseq, uids in events:
            if modseq not in self._own_modseqs:
                self.flag_changes.update(u for u in uids if self.seq_of(u) is not None)
        if self.flag_changes:
            changed, self.flag_changes = sorted(self.flag_changes), set()
            for message in await store.fetch(self.name, changed, ["flags", "modseq"]):
                seq = self.seq_of(message.uid)
                if seq is None:
                    continue
                items: list[tuple[str, object]] = [("FLAGS", list(message.flags or ()))]
                if condstore:
                    items += [("UID", message.uid), ("MODSEQ", message.modseq)]
                out.append(responses.fetch(seq, items))
        return out


def compact(numbers: Iterable[int]) -> SequenceSet:
    """Numbers as a short sequence set (``1:3,7``); callers pass at least one."""
    ranges: list[list[int]] = []
    for n in sorted(set(numbers)):
        if ranges and n == ranges[-1][1] + 1:
            ranges[-1][1] = n
        else:
            ranges.append([n, n])
    return SequenceSet(tuple(SeqRange(a, b) for a, b in ranges))
