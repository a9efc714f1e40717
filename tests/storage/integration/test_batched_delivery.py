"""Deliveries stored together (group commit, _bulk.py), with the storage core in-process:
each delivery still succeeds or fails alone, UIDs stay ascending, quota and blob
references add up, and one event per mailbox goes out after the commit."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from libs.blobs import LocalBlobStore
from libs.contracts import storage as contract
from libs.contracts.base import Event
from libs.db import create_engine, session_factory
from libs.db.migrations import upgrade_async
from libs.db.unit_of_work import UnitOfWork
from services.storage import _fetch, _messages, _search
from services.storage._batching import DeliveryQueue
from services.storage._bulk import store_batch
from services.storage._context import StorageContext
from services.storage._delivery import PendingDelivery, load_metadata
from services.storage._flags import parse_flags
from services.storage._quota import Limits, QuotaLimits, get_usage
from services.storage.config import StorageSettings
from services.storage.models import Blob

ALICE, BOB, CAROL = "alice@example.test", "bob@example.test", "carol@example.test"


class Farm:
    def __init__(self, ctx: StorageContext, events: list[Event], limits: dict[str, Limits]) -> None:
        self.ctx = ctx
        self.events = events
        self.limits = limits

    async def pending(self, raw: bytes, account: str, mailbox: str = "INBOX", flags: tuple[str, ...] = ()):  # type: ignore[no-untyped-def]
        digest = (await self.ctx.blobs.put(raw)).digest
        _raw, metadata = await load_metadata(self.ctx, digest)
        target = contract.DeliveryTarget(account=account, mailbox=mailbox, flags=list(flags))
        limits = await self.ctx.quotas.limits(account)
        return PendingDelivery(digest, metadata, target, parse_flags(flags), limits, datetime.now(UTC))

    async def store(self, batch: list[PendingDelivery]) -> list[contract.DeliveryResult]:
        async with self.ctx.uow() as work:
            return await store_batch(work, self.ctx, batch)

    async def uids(self, account: str, mailbox: str = "INBOX") -> list[int]:
        return (await _messages.uids(self.ctx, contract.UidsRequest(account=account, mailbox=mailbox))).uids

    async def added(self) -> list[contract.MailboxChanged]:
        return [e for e in self.events if isinstance(e, contract.MailboxChanged) and e.kind == "added"]


@pytest.fixture
async def farm(database_url: str, tmp_path: Path) -> AsyncIterator[Farm]:
    await upgrade_async("storage", database_url)
    engine, read_engine = create_engine(database_url), create_engine(database_url, read_only=True)
    events: list[Event] = []
    limits: dict[str, Limits] = {}

    async def publish(event: Event) -> None:
        events.append(event)

    async def lookup(account: str) -> Limits:
        return limits.get(account, Limits(bytes=None, messages=None))

    blobs = LocalBlobStore(tmp_path / "blobs")
    ctx = StorageContext(
        uow=UnitOfWork(session_factory(engine), publish),
        read=session_factory(read_engine),
        blobs=blobs,
        quotas=QuotaLimits(lookup, ttl=0),
        settings=StorageSettings(),
    )
    yield Farm(ctx, events, limits)
    await blobs.close()
    await engine.dispose()
    await read_engine.dispose()


async def fetch(ctx: StorageContext, request: contract.FetchRequest) -> contract.FetchReply:
    """What a front end gets: the endpoint's JSON, parsed as its reply model."""
    return contract.FetchReply.model_validate_json((await _fetch.fetch(ctx, request)).data)


def message(n: int) -> bytes:
    return f"From: a@example.net\r\nSubject: message {n}\r\n\r\nbody number {n}\r\n".encode()


async def test_a_batch_over_several_mailboxes_gets_ascending_uids_and_one_event_per_mailbox(farm: Farm) -> None:
    await farm.store([await farm.pending(message(0), ALICE)])  # INBOX exists from here on
    farm.events.clear()
    batch = [
        await farm.pending(message(1), ALICE),
        await farm.pending(message(2), ALICE, flags=("\\Seen", "$Work")),
        await farm.pending(message(3), ALICE, "Sent"),
        await farm.pending(message(4), ALICE),
    ]
    results = await farm.store(batch)
    assert all(r.ok for r in results), results
    assert [(r.mailbox, r.uid) for r in results] == [("INBOX", 2), ("INBOX", 3), ("Sent", 1), ("INBOX", 4)]
    assert await farm.uids(ALICE) == [1, 2, 3, 4]
    added = sorted(await farm.added(), key=lambda e: e.mailbox)
    assert [(e.mailbox, e.uids) for e in added] == [("INBOX", [2, 3, 4]), ("Sent", [1])]
    fetched = await fetch(
        farm.ctx,
        contract.FetchRequest(account=ALICE, mailbox="INBOX", uids=[contract.UidRange(first=3, last=3)],
                              items=["flags", "envelope", "size"]),
    )  # fmt: skip
    [meta] = fetched.messages
    assert meta.flags == ["\\Seen", "$Work"] and meta.modseq == added[0].modseq
    assert meta.envelope_dict()["subject"] == "message 2" and meta.size == len(message(2))


async def test_quota_and_blob_references_add_up(farm: Farm) -> None:
    raw = message(7)
    await farm.store([await farm.pending(message(0), ALICE), await farm.pending(message(0), BOB)])
    results = await farm.store([await farm.pending(raw, ALICE), await farm.pending(raw, BOB)])
    assert all(r.ok for r in results)
    async with farm.ctx.read() as session:
        assert await get_usage(session, ALICE) == (len(message(0)) + len(raw), 2)
        blob = await session.get(Blob, hashlib.sha256(raw).hexdigest())
    assert blob is not None and blob.refs == 2


async def test_an_over_quota_recipient_fails_alone_and_only_past_its_limit(farm: Farm) -> None:
    farm.limits[BOB] = Limits(bytes=None, messages=2)
    await farm.store([await farm.pending(message(0), ALICE), await farm.pending(message(0), BOB)])
    batch = [await farm.pending(message(n), account) for n in (1, 2, 3) for account in (ALICE, BOB)]
    results = await farm.store(batch)
    by_account = {a: [r for r in results if r.account == a] for a in (ALICE, BOB)}
    assert all(r.ok for r in by_account[ALICE])
    assert [r.ok for r in by_account[BOB]] == [True, False, False]
    assert {r.error for r in by_account[BOB] if not r.ok} == {"over_quota"}
    assert await farm.uids(ALICE) == [1, 2, 3, 4] and await farm.uids(BOB) == [1, 2]
    async with farm.ctx.read() as session:
        assert (await get_usage(session, BOB))[1] == 2


async def test_unknown_mailboxes_and_new_accounts_fall_back_without_failing_the_batch(farm: Farm) -> None:
    await farm.store([await farm.pending(message(0), ALICE)])
    batch = [
        await farm.pending(message(1), ALICE, "No such folder"),  # a filter's target that is gone: INBOX
        await farm.pending(message(2), ALICE, "bad/../name"),
        await farm.pending(message(3), CAROL),  # first use: her mailboxes are made
        await farm.pending(message(4), ALICE),
    ]
    results = await farm.store(batch)
    assert all(r.ok for r in results), results
    assert {r.mailbox for r in results} == {"INBOX"}
    assert await farm.uids(ALICE) == [1, 2, 3, 4] and await farm.uids(CAROL) == [1]


async def test_a_collected_blob_fails_only_its_delivery(farm: Farm) -> None:
    await farm.store([await farm.pending(message(0), ALICE)])
    gone = await farm.pending(message(1), ALICE)
    kept = await farm.pending(message(2), ALICE)
    await farm.ctx.blobs.delete(gone.digest)  # garbage collection got there first
    results = await farm.store([gone, kept])
    assert [r.ok for r in results] == [False, True] and results[0].error == "no_such_blob"
    assert await farm.uids(ALICE) == [1, 2]


async def test_the_queue_answers_every_caller_with_its_own_result(farm: Farm) -> None:
    await farm.store([await farm.pending(m, a) for m, a in ((message(0), ALICE), (message(0), BOB))])
    queue = DeliveryQueue(farm.ctx, max_batch=8)
    queue.start()
    try:
        items = [await farm.pending(message(n), ALICE if n % 2 else BOB) for n in range(1, 41)]
        results = await asyncio.gather(*(queue.submit([item]) for item in items))
    finally:
        await queue.stop()
    for item, [result] in zip(items, results, strict=True):
        assert result.ok and result.account == item.target.account
    assert await farm.uids(ALICE) == list(range(1, 22)) and await farm.uids(BOB) == list(range(1, 22))
    subjects = await fetch(
        farm.ctx,
        contract.FetchRequest(account=ALICE, mailbox="INBOX", uids=[contract.UidRange(first=1)], items=["envelope"]),
    )
    found = await _search.search(
        farm.ctx,
        contract.SearchRequest(account=ALICE, mailbox="INBOX", criteria=contract.SearchKey(op="text", value="body")),
    )
    assert contract.SearchReply.model_validate_json(found.data).uids == list(range(1, 22)), "every match, ascending"
    by_uid = {m.uid: m.envelope_dict()["subject"] for m in subjects.messages}
    for item, [result] in zip(items, results, strict=True):
        if item.target.account == ALICE:
            assert by_uid[result.uid] == item.metadata.envelope["subject"]
