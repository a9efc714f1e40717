"""The blob store contract, run against every backend: a local directory and S3 (moto).

Range rules under test (libs/blobs/base.py): ranges are half-open [start, end)
and clamped to the blob's size, so they behave like Python slicing of the
blob's bytes; a negative start or an end before the start raises InvalidRange.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import tracemalloc
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from libs.blobs import (
    BlobError,
    BlobNotFound,
    BlobRef,
    BlobStore,
    InvalidDigest,
    InvalidRange,
    LocalBlobStore,
)
from libs.blobs.s3 import S3BlobStore

MIB = 1024 * 1024
DATA = bytes(range(256)) * 4  # 1024 bytes, every position distinguishable
MISSING = hashlib.sha256(b"never stored").hexdigest()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(params=["local", "s3"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[BlobStore]:
    if request.param == "local":
        blob_store: BlobStore = LocalBlobStore(tmp_path / "blobs")
    else:
        blob_store = S3BlobStore(**request.getfixturevalue("s3_store_options"))
    async with blob_store:
        yield blob_store


async def listed(store: BlobStore) -> list[str]:
    return sorted([digest async for digest in store.list_digests()])


async def read_stream(chunks: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in chunks])


async def chunks_of(pieces: list[bytes]) -> AsyncIterator[bytes]:
    for piece in pieces:
        yield piece


# -- put and get ------------------------------------------------------------


async def test_put_returns_the_sha256_and_size_and_get_returns_the_bytes(store: BlobStore) -> None:
    ref = await store.put(DATA)
    assert ref == BlobRef(sha256(DATA), len(DATA))
    assert await store.get(ref.digest) == DATA
    assert await store.exists(ref.digest)
    assert await store.size(ref.digest) == len(DATA)


async def test_the_empty_blob_is_a_blob(store: BlobStore) -> None:
    ref = await store.put(b"")
    assert ref == BlobRef(sha256(b""), 0)
    assert await store.get(ref.digest) == b""
    assert await store.get_range(ref.digest, 0, 10) == b""
    assert await read_stream(store.open_stream(ref.digest)) == b""
    assert await store.size(ref.digest) == 0


RANGES = [
    pytest.param(0, 1, id="first-byte"),
    pytest.param(1023, 1024, id="last-byte"),
    pytest.param(10, 20, id="middle"),
    pytest.param(0, 1024, id="whole"),
    pytest.param(5, 5, id="empty"),
    pytest.param(1000, 5000, id="end-past-size-is-clamped"),
    pytest.param(1024, 1030, id="start-at-size-is-empty"),
    pytest.param(5000, 6000, id="start-past-size-is-empty"),
]


@pytest.mark.parametrize(("start", "end"), RANGES)
async def test_get_range_is_half_open_and_clamped(store: BlobStore, start: int, end: int) -> None:
    ref = await store.put(DATA)
    assert await store.get_range(ref.digest, start, end) == DATA[start:end]


@pytest.mark.parametrize(("start", "end"), RANGES)
async def test_open_stream_follows_the_same_range_rules(store: BlobStore, start: int, end: int) -> None:
    ref = await store.put(DATA)
    assert await read_stream(store.open_stream(ref.digest, start, end)) == DATA[start:end]


async def test_open_stream_without_end_reads_to_the_end(store: BlobStore) -> None:
    ref = await store.put(DATA)
    assert await read_stream(store.open_stream(ref.digest)) == DATA
    assert await read_stream(store.open_stream(ref.digest, 1000)) == DATA[1000:]


@pytest.mark.parametrize(("start", "end"), [(-1, 5), (10, 5)], ids=["negative-start", "end-before-start"])
async def test_nonsense_ranges_are_refused(store: BlobStore, start: int, end: int) -> None:
    ref = await store.put(DATA)
    with pytest.raises(InvalidRange):
        await store.get_range(ref.digest, start, end)
    with pytest.raises(ValueError):  # InvalidRange is a ValueError, refused at the call
        store.open_stream(ref.digest, start, end)


async def test_a_large_blob_streams_in_several_chunks_and_can_be_left_early(store: BlobStore) -> None:
    data = random.Random(1).randbytes(MIB + 123)
    ref = await store.put(data)
    chunks = [chunk async for chunk in store.open_stream(ref.digest)]
    assert len(chunks) > 1 and b"".join(chunks) == data
    stream = store.open_stream(ref.digest, 100)
    first = await anext(stream)  # chunk sizes are not part of the contract
    assert first and first == data[100 : 100 + len(first)]
    await stream.aclose()  # type: ignore[attr-defined]


# -- single-instance storage --------------------------------------------------


async def test_the_same_bytes_are_stored_once(store: BlobStore) -> None:
    first = await store.put(DATA)
    second = await store.put(DATA)
    streamed = await store.put_stream(chunks_of([DATA[:100], DATA[100:]]))
    assert first == second == streamed
    assert await listed(store) == [first.digest]


async def test_concurrent_puts_of_the_same_bytes_agree(store: BlobStore) -> None:
    refs = await asyncio.gather(*(store.put(DATA) for _ in range(5)))
    assert set(refs) == {BlobRef(sha256(DATA), len(DATA))}
    assert await listed(store) == [sha256(DATA)]
    assert await store.get(sha256(DATA)) == DATA


# -- streaming puts -------------------------------------------------------------


async def test_put_stream_gathers_small_chunks_into_the_same_blob(store: BlobStore) -> None:
    data = random.Random(2).randbytes(300_000)
    pieces = [data[offset : offset + 1000] for offset in range(0, len(data), 1000)]
    ref = await store.put_stream(chunks_of(pieces))
    assert ref == BlobRef(sha256(data), len(data))
    assert await store.get(ref.digest) == data


async def test_put_stream_of_20_mb_keeps_memory_bounded(store: BlobStore) -> None:
    chunk_count, expected = 20, hashlib.sha256()

    def chunk(i: int) -> bytes:
        # One allocation per chunk: a random generator would need a transient
        # big integer of the chunk's size, which the bound below would count.
        return hashlib.sha256(i.to_bytes(4, "big")).digest() * (MIB // 32)

    async def body() -> AsyncIterator[bytes]:
        for i in range(chunk_count):
            piece = chunk(i)
            expected.update(piece)
            yield piece

    # Warm up first: what is measured is the body, not loading the S3 client's service model.
    await store.exists(MISSING)
    tracemalloc.start()
    try:
        ref = await store.put_stream(body())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert ref == BlobRef(expected.hexdigest(), chunk_count * MIB)
    # Local: about two chunks. S3: one part read from the spool file plus the
    # copy asyncio's transport buffers while sending it.
    bound = 2 * store.part_size + 2 * MIB if isinstance(store, S3BlobStore) else 4 * MIB
    assert peak < bound, f"peak {peak / MIB:.1f} MiB for a {chunk_count} MiB body"
    # A range across a chunk boundary reads back what was sent.
    assert await store.get_range(ref.digest, MIB - 10, MIB + 10) == chunk(0)[-10:] + chunk(1)[:10]
    assert await store.size(ref.digest) == chunk_count * MIB


async def test_a_failing_source_stores_nothing(store: BlobStore) -> None:
    class SourceBroke(Exception):
        pass

    async def body() -> AsyncIterator[bytes]:
        yield b"x" * 1000
        raise SourceBroke

    with pytest.raises(SourceBroke):
        await store.put_stream(body())
    assert await listed(store) == []


# -- missing blobs and bad digests ------------------------------------------------


async def test_a_missing_blob_is_reported_as_such(store: BlobStore) -> None:
    assert not await store.exists(MISSING)
    for read in (store.get(MISSING), store.get_range(MISSING, 0, 10), store.get_range(MISSING, 3, 3)):
        with pytest.raises(BlobNotFound) as caught:
            await read
        assert caught.value.digest == MISSING
    with pytest.raises(BlobNotFound):
        await store.size(MISSING)
    with pytest.raises(BlobNotFound):
        await read_stream(store.open_stream(MISSING))
    await store.delete(MISSING)  # deleting nothing is not an error


BAD_DIGESTS = [
    "../../etc/passwd",
    "",
    "/" + "a" * 63,
    "../" + "a" * 61,
    "a" * 63,
    "a" * 65,
    "A" * 64,  # upper case: one blob must have one name
    "g" * 64,
    "a" * 64 + "\n",
    "aa/bb/" + "a" * 58,
    "a" * 32 + "\x00" + "a" * 31,
]


@pytest.mark.parametrize("digest", BAD_DIGESTS)
async def test_invalid_digests_are_refused_by_every_operation(store: BlobStore, digest: str) -> None:
    operations: list[Callable[[], Coroutine[Any, Any, object]]] = [
        lambda: store.get(digest),
        lambda: store.get_range(digest, 0, 1),
        lambda: store.exists(digest),
        lambda: store.size(digest),
        lambda: store.delete(digest),
    ]
    for operation in operations:
        with pytest.raises(InvalidDigest):
            await operation()
    with pytest.raises(ValueError):
        store.open_stream(digest)
    with pytest.raises(InvalidDigest):
        BlobRef(digest, 1)


def test_errors_form_one_family() -> None:
    assert issubclass(BlobNotFound, BlobError) and issubclass(BlobNotFound, LookupError)
    assert issubclass(InvalidDigest, BlobError) and issubclass(InvalidDigest, ValueError)
    assert issubclass(InvalidRange, BlobError) and issubclass(InvalidRange, ValueError)


# -- listing and deleting ----------------------------------------------------------


async def test_list_digests_yields_every_stored_blob(store: BlobStore) -> None:
    assert await listed(store) == []
    refs = [await store.put(f"blob {number}".encode()) for number in range(5)]
    assert await listed(store) == sorted(ref.digest for ref in refs)


async def test_delete_removes_only_that_blob(store: BlobStore) -> None:
    kept, deleted = await store.put(b"kept"), await store.put(b"deleted")
    await store.delete(deleted.digest)
    assert not await store.exists(deleted.digest)
    with pytest.raises(BlobNotFound):
        await store.get(deleted.digest)
    assert await listed(store) == [kept.digest]
    await store.delete(deleted.digest)  # again: still fine
    assert await store.put(b"deleted") == deleted  # and it can come back
