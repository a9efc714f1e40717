"""Storing a batch of deliveries with a handful of statements per table, not per delivery.

The group commit (_batching.py) hands over every delivery that arrived while
the previous batch was committing. Writing them one by one costs about
eight statements and a savepoint each; here the whole batch takes one
SELECT of the target mailboxes, one UPDATE that allocates each mailbox's
UIDs and one MODSEQ, one quota upsert over the accounts, one blob-reference
upsert over the digests, and multi-row INSERTs of the messages and of their
full-text rows. All messages a batch adds to one mailbox share a MODSEQ
(as a COPY's do) and one `storage.mailbox.changed` event.

The bulk writes run in a savepoint. Deliveries they cannot take are handed
back (`_Unfit`), the savepoint is rolled back, and the rest is tried again;
the unfit ones are then stored one by one, each in its own savepoint
(`store_pending`), so one refusal never fails the batch:
- the target mailbox does not exist (INBOX fallback, an account's first use);
- the batch would take an account over quota (which of its deliveries still
  fit is decided one at a time, in order);
- garbage collection removed a blob (see _gc.py).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass

from sqlalchemy import case, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from libs.contracts import storage as contract
from libs.contracts.errors import InvalidName
from libs.db.unit_of_work import Work
from services.storage._blobrefs import add_refs_many
from services.storage._context import StorageContext
from services.storage._delivery import PendingDelivery, store_pending
from services.storage._fts import IndexRow, index_many
from services.storage._names import canonical_name
from services.storage._quota import Limits, add_usage_many, over_limits, usage_of
from services.storage.models import Mailbox, StoredMessage

_MESSAGES = StoredMessage.__table__
_MAILBOXES = Mailbox.__table__
# Built once: the same statement object each time lets SQLAlchemy reuse its compiled form.
# The rows come back in any order and are matched by (mailbox, uid): asking SQLAlchemy to
# keep the parameters' order makes it insert one row at a time on SQLite.
_INSERT_MESSAGES = insert(_MESSAGES).returning(_MESSAGES.c.id, _MESSAGES.c.mailbox_id, _MESSAGES.c.uid)


class _Unfit(Exception):
    """Deliveries (positions in the batch) that have to be stored one by one."""

    def __init__(self, positions: set[int]) -> None:
        super().__init__(f"{len(positions)} deliveries need the one-by-one path")
        self.positions = positions


@dataclass
class _Target:
    id: int
    account: str
    name: str
    uidvalidity: int


async def store_batch(work: Work, ctx: StorageContext, batch: list[PendingDelivery]) -> list[contract.DeliveryResult]:
    """Store every delivery of `batch` in the open transaction; one result each, in order."""
    results: dict[int, contract.DeliveryResult] = {}
    bulk = set(range(len(batch)))
    while bulk:
        marker = len(work.events)
        try:
            async with work.session.begin_nested():
                results = await _store_bulk(work, ctx, {p: batch[p] for p in sorted(bulk)})
            break
        except _Unfit as unfit:
            del work.events[marker:]
            bulk -= unfit.positions
    for position in sorted(set(range(len(batch))) - bulk):
        results[position] = await store_pending(work, ctx, batch[position])
    return [results[p] for p in range(len(batch))]


async def _store_bulk(
    work: Work, ctx: StorageContext, items: dict[int, PendingDelivery]
) -> dict[int, contract.DeliveryResult]:
    session = work.session
    targets = await _targets(session, items)
    uids, modseqs = await _allocate(session, items, targets)
    await _count_usage(session, items)
    await add_refs_many(session, _blob_refs(items))
    await _check_blobs(ctx, items)
    ids = await _insert_messages(session, items, targets, uids, modseqs)
    await index_many(
        session,
        [IndexRow(ids[pos], targets[pos].id, uids[pos], p.metadata.header_text, p.metadata.body_text)
         for pos, p in items.items()],
    )  # fmt: skip
    _announce(work, items, targets, uids, modseqs)
    return {
        pos: contract.DeliveryResult(
            account=p.target.account,
            ok=True,
            mailbox=targets[pos].name,
            uid=uids[pos],
            uidvalidity=targets[pos].uidvalidity,
        )
        for pos, p in items.items()
    }


async def _targets(session: AsyncSession, items: dict[int, PendingDelivery]) -> dict[int, _Target]:
    """Each delivery's mailbox; those without one (or with a name to fall back from) are unfit."""
    wanted: dict[int, tuple[str, str]] = {}
    unfit: set[int] = set()
    for pos, pending in items.items():
        try:
            wanted[pos] = (pending.target.account, canonical_name(pending.target.mailbox))
        except InvalidName:
            unfit.add(pos)
    accounts = sorted({account for account, _name in wanted.values()})
    names = sorted({name for _account, name in wanted.values()})
    rows = await session.execute(
        select(_MAILBOXES.c.id, _MAILBOXES.c.account, _MAILBOXES.c.name, _MAILBOXES.c.uidvalidity).where(
            _MAILBOXES.c.account.in_(accounts), _MAILBOXES.c.name.in_(names)
        )
    )
    found = {(row.account, row.name): _Target(row.id, row.account, row.name, row.uidvalidity) for row in rows}
    targets = {}
    for pos, key in wanted.items():
        if key in found:
            targets[pos] = found[key]
        else:
            unfit.add(pos)
    if unfit:
        raise _Unfit(unfit)
    return targets


async def _allocate(
    session: AsyncSession, items: dict[int, PendingDelivery], targets: dict[int, _Target]
) -> tuple[dict[int, int], dict[int, int]]:
    """UIDs (per delivery) and one new MODSEQ per mailbox, from one UPDATE of the mailbox rows.

    The UPDATE takes the row locks (PostgreSQL; SQLite has one writer), so
    UIDs stay strictly ascending and unique across replicas; ascending ids
    make two replicas lock shared mailboxes in the same order.
    """
    counts = Counter(target.id for target in targets.values())
    ids = sorted(counts)
    rows = await session.execute(
        update(_MAILBOXES)
        .where(_MAILBOXES.c.id.in_(ids))
        .values(
            uidnext=_MAILBOXES.c.uidnext + case(dict(counts), value=_MAILBOXES.c.id),
            highest_modseq=_MAILBOXES.c.highest_modseq + 1,
        )
        .returning(_MAILBOXES.c.id, _MAILBOXES.c.uidnext, _MAILBOXES.c.highest_modseq, _MAILBOXES.c.name)
    )
    after = {row.id: row for row in rows}
    gone = {pos for pos, target in targets.items() if target.id not in after}
    if gone:  # deleted since we looked it up (another replica): let the one-by-one path decide
        raise _Unfit(gone)
    next_uid = {mailbox_id: row.uidnext - counts[mailbox_id] for mailbox_id, row in after.items()}
    uids, modseqs = {}, {}
    for pos in sorted(items):
        target = targets[pos]
        target.name = after[target.id].name  # renamed meanwhile: report the name it has now
        uids[pos] = next_uid[target.id]
        next_uid[target.id] += 1
        modseqs[pos] = after[target.id].highest_modseq
    return uids, modseqs


async def _count_usage(session: AsyncSession, items: dict[int, PendingDelivery]) -> None:
    """Add the batch to each account's quota use; an account it takes over its limits is unfit."""
    totals: dict[str, tuple[int, int]] = {}
    limits: dict[str, Limits] = {}
    for pending in items.values():
        account = pending.target.account
        size, count = totals.get(account, (0, 0))
        totals[account] = (size + pending.metadata.size, count + 1)
        limits.setdefault(account, pending.limits)
    await add_usage_many(session, totals)
    limited = sorted(a for a, lim in limits.items() if lim.bytes is not None or lim.messages is not None)
    if not limited:
        return
    used = await usage_of(session, limited)  # our own rows, locked by the upsert: the totals after it
    over = {account for account, (b, m) in used.items() if over_limits(limits[account], b, m)}
    if over:
        raise _Unfit({pos for pos, p in items.items() if p.target.account in over})


def _blob_refs(items: dict[int, PendingDelivery]) -> dict[str, tuple[int, int]]:
    """Size and number of new references per digest (a message to several recipients is one blob)."""
    counts = Counter(p.digest for p in items.values())
    sizes = {p.digest: p.metadata.size for p in items.values()}
    return {digest: (sizes[digest], count) for digest, count in counts.items()}


async def _check_blobs(ctx: StorageContext, items: dict[int, PendingDelivery]) -> None:
    # After our reference rows are written, as in _delivery._check_blob_still_there.
    missing = await ctx.blobs.missing(sorted({p.digest for p in items.values()}))
    if missing:
        raise _Unfit({pos for pos, p in items.items() if p.digest in missing})


async def _insert_messages(
    session: AsyncSession,
    items: dict[int, PendingDelivery],
    targets: dict[int, _Target],
    uids: dict[int, int],
    modseqs: dict[int, int],
) -> dict[int, int]:
    """One multi-row INSERT; the new message ids by position (the full-text rows need them)."""
    positions = sorted(items)
    rows = []
    for pos in positions:
        pending = items[pos]
        system = pending.flags.system
        rows.append(
            {
                "mailbox_id": targets[pos].id, "uid": uids[pos], "modseq": modseqs[pos], "blob": pending.digest,
                "size": pending.metadata.size, "internal_date": pending.internal_date,
                "seen": "seen" in system, "answered": "answered" in system, "flagged": "flagged" in system,
                "deleted": "deleted" in system, "draft": "draft" in system,
                "keywords": " ".join(pending.flags.keywords), **pending.metadata.columns(),
            }
        )  # fmt: skip
    result = await session.execute(_INSERT_MESSAGES, rows)
    ids = {(row.mailbox_id, row.uid): row.id for row in result}
    return {pos: ids[(targets[pos].id, uids[pos])] for pos in positions}


def _announce(
    work: Work,
    items: dict[int, PendingDelivery],
    targets: dict[int, _Target],
    uids: dict[int, int],
    modseqs: dict[int, int],
) -> None:
    """One `added` event per mailbox, with all the UIDs the batch gave it."""
    added: dict[int, list[int]] = defaultdict(list)
    for pos in items:
        added[targets[pos].id].append(uids[pos])
    first_of = {targets[pos].id: pos for pos in sorted(items, reverse=True)}
    for mailbox_id, mailbox_uids in added.items():
        target = targets[first_of[mailbox_id]]
        work.publish(
            contract.MailboxChanged(
                account=target.account, mailbox=target.name, mailbox_id=target.id, uidvalidity=target.uidvalidity,
                kind=contract.ChangeKind.ADDED, uids=sorted(mailbox_uids), modseq=modseqs[first_of[mailbox_id]],
            )
        )  # fmt: skip
