"""The S3 backend beyond the shared contract: keys, uploads skipped, multipart, integrity, errors.

Runs against the moto server of tests/libs/conftest.py, one bucket per test.
"""

from __future__ import annotations

import base64
import hashlib
import random
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from libs.blobs import BlobRef, BlobStoreUnavailable
from libs.blobs.s3 import MIN_PART_SIZE, S3BlobStore
from libs.testing.ports import free_port
from libs.testing.s3 import MotoS3Server

DATA = b"a message body\r\n" * 100
DIGEST = hashlib.sha256(DATA).hexdigest()


@pytest.fixture
async def store(s3_store_options: dict[str, Any]) -> AsyncIterator[S3BlobStore]:
    blob_store = S3BlobStore(**s3_store_options)
    async with blob_store:
        yield blob_store


async def client_of(store: S3BlobStore) -> Any:
    return await store._connect()


def count_calls(client: Any, operation: str, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Record the arguments of every call of one client operation (still sent to the server)."""
    calls: list[dict[str, Any]] = []
    original = getattr(client, operation)

    async def recording(**arguments: Any) -> Any:
        calls.append(arguments)
        return await original(**arguments)

    monkeypatch.setattr(client, operation, recording)
    return calls


async def test_keys_are_the_prefix_and_the_fanned_out_digest(store: S3BlobStore) -> None:
    await store.put(DATA)
    key = f"blobs/{DIGEST[:2]}/{DIGEST[2:4]}/{DIGEST}"
    assert store.key_for(DIGEST) == key
    head = await (await client_of(store)).head_object(Bucket=store.bucket, Key=key)
    assert head["ContentLength"] == len(DATA)


def test_prefixes_are_normalized() -> None:
    assert S3BlobStore("bucket", prefix="mail").prefix == "mail/"
    assert S3BlobStore("bucket", prefix="/a/b/").prefix == "a/b/"
    assert S3BlobStore("bucket", prefix="").prefix == ""
    with pytest.raises(ValueError):
        S3BlobStore("bucket", part_size=MIN_PART_SIZE - 1)


async def test_a_stored_blob_is_not_uploaded_again(store: S3BlobStore, monkeypatch: pytest.MonkeyPatch) -> None:
    puts = count_calls(await client_of(store), "put_object", monkeypatch)
    await store.put(DATA)
    await store.put(DATA)

    async def body() -> AsyncIterator[bytes]:
        yield DATA

    await store.put_stream(body())
    assert len(puts) == 1
    assert puts[0]["ContentMD5"]  # every upload carries its integrity check


async def test_a_large_put_goes_in_parts(store: S3BlobStore, monkeypatch: pytest.MonkeyPatch) -> None:
    parts = count_calls(await client_of(store), "upload_part", monkeypatch)
    data = random.Random(4).randbytes(2 * MIN_PART_SIZE + 1000)
    ref = await store.put(data)
    assert [part["PartNumber"] for part in parts] == [1, 2, 3]
    assert await store.get(ref.digest) == data


async def test_a_failed_part_aborts_the_upload(store: S3BlobStore, monkeypatch: pytest.MonkeyPatch) -> None:
    client = await client_of(store)
    original = client.upload_part

    async def failing_second_part(**arguments: Any) -> Any:
        if arguments["PartNumber"] == 2:
            raise OSError(104, "Connection reset by peer")
        return await original(**arguments)

    monkeypatch.setattr(client, "upload_part", failing_second_part)
    data = random.Random(5).randbytes(2 * MIN_PART_SIZE)
    with pytest.raises(BlobStoreUnavailable):
        await store.put(data)
    assert not await store.exists(hashlib.sha256(data).hexdigest())
    uploads = await client.list_multipart_uploads(Bucket=store.bucket)
    assert uploads.get("Uploads", []) == []


async def test_every_upload_carries_the_md5_of_its_bytes(store: S3BlobStore, monkeypatch: pytest.MonkeyPatch) -> None:
    # The store checks Content-MD5 and refuses bytes damaged in transit. moto
    # does not check it, so what is tested here is that the right one is sent.
    client = await client_of(store)
    puts = count_calls(client, "put_object", monkeypatch)
    parts = count_calls(client, "upload_part", monkeypatch)
    await store.put(DATA)
    await store.put(random.Random(6).randbytes(MIN_PART_SIZE + 1))
    sent = puts + parts
    assert len(sent) == 3
    for call in sent:
        body = call["Body"]
        assert call["ContentMD5"] == base64.b64encode(hashlib.md5(body).digest()).decode()


async def test_cleanup_aborts_stale_unfinished_uploads_under_the_prefix(store: S3BlobStore) -> None:
    client = await client_of(store)
    await client.create_multipart_upload(Bucket=store.bucket, Key=store.key_for(DIGEST))
    await client.create_multipart_upload(Bucket=store.bucket, Key="elsewhere/not-ours")
    # moto reports every upload as started in 2010, so only the direction of
    # the age test can be checked here: nothing is older than a century.
    assert await store.cleanup_temp(older_than=timedelta(days=36500)) == 0
    assert await store.cleanup_temp(older_than=timedelta(0)) == 1
    uploads = await client.list_multipart_uploads(Bucket=store.bucket)
    assert [upload["Key"] for upload in uploads.get("Uploads", [])] == ["elsewhere/not-ours"]


async def test_listing_ignores_keys_a_put_could_not_have_made(store: S3BlobStore) -> None:
    ref = await store.put(DATA)
    client = await client_of(store)
    other = "f" * 64
    for key in ("blobs/README", f"blobs/aa/bb/{other}", f"other/{DIGEST[:2]}/{DIGEST[2:4]}/{DIGEST}"):
        await client.put_object(Bucket=store.bucket, Key=key, Body=b"stray")
    assert [digest async for digest in store.list_digests()] == [ref.digest]


async def test_prefixes_keep_stores_in_one_bucket_apart(s3_server: MotoS3Server, store: S3BlobStore) -> None:
    await store.put(DATA)
    async with S3BlobStore(store.bucket, **s3_server.client_options(), prefix="archive/") as archive:
        assert not await archive.exists(DIGEST)
        assert await archive.put(DATA) == BlobRef(DIGEST, len(DATA))
        assert [digest async for digest in archive.list_digests()] == [DIGEST]


async def test_an_unreachable_store_is_unavailable_not_missing() -> None:
    async with S3BlobStore(
        "bucket",
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        access_key="testing",
        secret_key="testing",
        max_attempts=1,  # no backoff: the test is about the error, not the retries
    ) as store:
        with pytest.raises(BlobStoreUnavailable):  # not False: a missing blob and a missing store differ
            await store.exists(DIGEST)
