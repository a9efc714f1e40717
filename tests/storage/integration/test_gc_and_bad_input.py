"""Blob garbage collection and malformed messages, with the storage core in-process."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from libs.blobs import LocalBlobStore
from libs.contracts import storage as contract
from libs.contracts.base import Event
from libs.contracts.errors import BlobMissing
from libs.db import create_engine, session_factory
from libs.db.migrations import upgrade_async
from libs.db.unit_of_work import UnitOfWork
from services.storage import _delivery, _holds, _messages
from services.storage._context import StorageContext
from services.storage._gc import collect
from services.storage._quota import Limits, QuotaLimits
from services.storage.config import StorageSettings
from services.storage.mime import ParsedMessage, render_bodystructure

ACCOUNT = "alice@example.test"


@pytest.fixture
async def ctx(database_url: str, tmp_path: Path) -> AsyncIterator[StorageContext]:
    await upgrade_async("storage", database_url)
    engine, read_engine = create_engine(database_url), create_engine(database_url, read_only=True)
    published: list[Event] = []

    async def publish(event: Event) -> None:
        published.append(event)

    async def no_limits(_account: str) -> Limits:
        return Limits(bytes=None, messages=None)

    blobs = LocalBlobStore(tmp_path / "blobs")
    yield StorageContext(
        uow=UnitOfWork(session_factory(engine), publish),
        read=session_factory(read_engine),
        blobs=blobs,
        quotas=QuotaLimits(no_limits, ttl=0),
        settings=StorageSettings(),
    )
    await blobs.close()
    await engine.dispose()
    await read_engine.dispose()


async def deliver(ctx: StorageContext, raw: bytes) -> contract.DeliveryResult:
    ref = await ctx.blobs.put(raw)
    request = contract.DeliverRequest(blob=ref.digest, recipients=[contract.DeliveryTarget(account=ACCOUNT)])
    [result] = (await _delivery.deliver(ctx, request)).results
    return result


async def expunge_all(ctx: StorageContext) -> None:
    await _messages.store_flags(
        ctx,
        contract.StoreFlagsRequest(
            account=ACCOUNT, mailbox="INBOX", uids=[contract.UidRange(first=1)], mode="add", flags=["\\Deleted"]
        ),
    )
    await _messages.expunge(ctx, contract.ExpungeRequest(account=ACCOUNT, mailbox="INBOX"))


async def test_gc_keeps_referenced_blobs_and_collects_unreferenced_ones(ctx: StorageContext) -> None:
    keep, drop = b"Subject: keep\r\n\r\nkeep\r\n", b"Subject: drop\r\n\r\ndrop\r\n"
    await deliver(ctx, keep)
    dropped = await deliver(ctx, drop)
    await deliver(ctx, drop)  # the same body twice: one blob, two references
    keep_ref, drop_ref = await ctx.blobs.put(keep), await ctx.blobs.put(drop)
    await _messages.store_flags(
        ctx,
        contract.StoreFlagsRequest(
            account=ACCOUNT,
            mailbox="INBOX",
            uids=[contract.UidRange(first=dropped.uid, last=dropped.uid)],
            mode="add",
            flags=["\\Deleted"],
        ),
    )
    await _messages.expunge(ctx, contract.ExpungeRequest(account=ACCOUNT, mailbox="INBOX"))
    assert await collect(ctx, grace=0) == 0, "one reference to the dropped body is left"
    await expunge_all(ctx)
    assert await collect(ctx, grace=3600) == 0, "within the grace period nothing goes"
    assert await collect(ctx, grace=0) == 2
    assert not await ctx.blobs.exists(drop_ref.digest) and not await ctx.blobs.exists(keep_ref.digest)


async def test_a_delivery_racing_gc_never_stores_a_message_without_body(ctx: StorageContext) -> None:
    raw = b"Subject: race\r\n\r\nbody\r\n"
    await deliver(ctx, raw)
    await expunge_all(ctx)
    assert await collect(ctx, grace=0) == 1
    # A front end that checked "exists" before GC ran now delivers the same digest.
    late = contract.DeliverRequest(
        blob=hashlib.sha256(raw).hexdigest(), recipients=[contract.DeliveryTarget(account=ACCOUNT)]
    )
    with pytest.raises(BlobMissing):
        await _delivery.deliver(ctx, late)
    assert (await _messages.uids(ctx, contract.UidsRequest(account=ACCOUNT, mailbox="INBOX"))).uids == []


def nested_multipart(depth: int) -> bytes:
    head = b"Subject: deep\r\nContent-Type: multipart/mixed; boundary=b0\r\n\r\n"
    body = b""
    for level in range(1, depth + 1):
        body += f"--b{level - 1}\r\nContent-Type: multipart/mixed; boundary=b{level}\r\n\r\n".encode()
    body += f"--b{depth}\r\nContent-Type: text/plain\r\n\r\nbottom\r\n--b{depth}--\r\n".encode()
    return head + body


MALFORMED = {
    "no header separator": b"Subject: x\r\nthis is not a header line\r\nbody",
    "broken boundary": b"Content-Type: multipart/mixed; boundary=zz\r\n\r\n--zz\r\n"
    b"Content-Type: text/plain\r\n\r\nno end",
    "boundary never appears": b"Content-Type: multipart/alternative; boundary=nope\r\n\r\njust text\r\n",
    "8-bit junk": b"Subject: \xff\xfe\x00\x80 junk\r\nFrom: \xc3\x28@\xff\r\n\r\n\x00\x01\x02\xff body\r\n",
    "bare LF": b"Subject: lf\nContent-Type: text/plain\n\nline one\nline two\n",
    "100-level nesting": nested_multipart(100),
    "empty": b"",
}


@pytest.mark.parametrize("name", list(MALFORMED))
async def test_malformed_messages_are_stored_byte_exact_with_a_structure(ctx: StorageContext, name: str) -> None:
    raw = MALFORMED[name]
    result = await deliver(ctx, raw)
    assert result.ok, result.message
    fetched = await _messages.fetch(
        ctx,
        contract.FetchRequest(account=ACCOUNT, mailbox="INBOX", uids=[contract.UidRange(first=result.uid)],
                              items=["blob", "structure", "envelope", "size"]),
    )  # fmt: skip
    [meta] = fetched.messages
    assert await ctx.blobs.get(meta.blob) == raw and meta.size == len(raw)
    assert render_bodystructure(ParsedMessage.from_dict(meta.structure)).startswith(b"(")


async def test_a_50_mb_single_line_is_stored_and_indexed_within_bounds(ctx: StorageContext) -> None:
    raw = b"Subject: huge\r\n\r\n" + b"x" * (50 * 1024 * 1024) + b" needle\r\n"
    result = await deliver(ctx, raw)
    assert result.ok
    meta = (await _messages.fetch(ctx, contract.FetchRequest(account=ACCOUNT, mailbox="INBOX",
                                  uids=[contract.UidRange(first=1)], items=["size"]))).messages[0]  # fmt: skip
    assert meta.size == len(raw)


async def test_a_blob_hold_keeps_a_body_from_collection_until_released(ctx: StorageContext) -> None:
    raw = b"Subject: queued\r\n\r\nwaiting for a remote server\r\n"
    await deliver(ctx, raw)  # a local copy of the same body as the queued one
    digest = hashlib.sha256(raw).hexdigest()
    await _holds.blob_hold(ctx, contract.BlobHoldRequest(blob=digest))
    await expunge_all(ctx)  # the local copy goes; the queue still needs the body
    assert await collect(ctx, grace=0) == 0
    assert await ctx.blobs.exists(digest)
    await _holds.blob_hold(ctx, contract.BlobHoldRequest(blob=digest, hold=False))
    assert await collect(ctx, grace=0) == 1
    assert not await ctx.blobs.exists(digest)


async def test_a_blob_hold_on_a_missing_body_fails(ctx: StorageContext) -> None:
    with pytest.raises(BlobMissing):
        await _holds.blob_hold(ctx, contract.BlobHoldRequest(blob="0" * 64))
