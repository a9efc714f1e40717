"""Blobs as objects in an S3-compatible store (AWS S3, MinIO, Ceph RGW): the at-scale backend.

Keys are `<prefix>ab/cd/abcd…`, the local layout under a prefix. The digest
is computed here, before the upload, and names the key; an object that is
already there with the right length is not uploaded again (the store may
hold it from another put of the same bytes). Durability needs no extra step:
S3 answers a PUT (or a multipart completion) once the object is durable.

Integrity in transit: every upload carries Content-MD5, which every
S3-compatible store checks, so bytes damaged on the way are refused instead
of being stored forever under a name that promises other content. The
newer default checksums of botocore (CRC32 trailers) are turned off
("when_required") because several S3-compatible stores reject them.

A streamed put does not know its key until the last chunk, so the body is
spooled to an anonymous temporary file while it is hashed, then uploaded
from there: in one PUT up to `multipart_threshold`, in parts of `part_size`
beyond it. Memory stays at about one part, whatever the body's size. The
spool file has no name on disk, so a crash leaves nothing behind; a crash
during a multipart upload leaves an unfinished upload in the bucket, which
`cleanup_temp()` aborts (a bucket lifecycle rule can do the same).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import hashlib
import math
import tempfile
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

import aiohttp
from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession, get_session
from botocore.exceptions import BotoCoreError, ClientError

from libs.blobs._stream import HashingWriter, drain, run_in
from libs.blobs.base import (
    DEFAULT_TEMP_AGE,
    STREAM_CHUNK_SIZE,
    BlobNotFound,
    BlobRef,
    BlobStore,
    BlobStoreUnavailable,
    check_range,
    fanout_parts,
    validate_digest,
)

MIB = 1024 * 1024
MIN_PART_SIZE = 5 * MIB  # S3's smallest part, except the last one
MAX_PARTS = 10_000  # S3's largest part count
DEFAULT_PART_SIZE = 8 * MIB
# Hashing a buffer this large on the event loop would stall it for milliseconds.
_THREAD_HASH_SIZE = MIB
_NOT_FOUND_CODES = frozenset({"404", "NoSuchKey", "NotFound"})


@functools.cache
def _shared_session() -> AioSession:
    """One botocore session per process: it caches the parsed S3 service model
    (megabytes of JSON), which every new session would load again."""
    return get_session()


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _md5_base64(data: bytes) -> str:
    # Content-MD5 is an integrity check the store verifies, not a security measure.
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode("ascii")


def normalize_prefix(prefix: str) -> str:
    """ "blobs" and "/blobs/" both become "blobs/"; "" stays "" (keys at the bucket's root)."""
    prefix = prefix.strip("/")
    return f"{prefix}/" if prefix else ""


class S3BlobStore(BlobStore):
    """Content-addressed blobs in `bucket` under `prefix`; the client connects on first use."""

    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        access_key: str | None = None,
        secret_key: str | None = None,
        prefix: str = "blobs/",
        create_bucket: bool = False,
        addressing_style: str = "path",
        part_size: int = DEFAULT_PART_SIZE,
        multipart_threshold: int | None = None,
        spool_dir: Path | None = None,
        chunk_size: int = STREAM_CHUNK_SIZE,
        max_attempts: int = 3,
    ) -> None:
        if part_size < MIN_PART_SIZE:
            raise ValueError(f"part_size must be at least {MIN_PART_SIZE} bytes (an S3 limit), got {part_size}")
        self.bucket = bucket
        self.endpoint_url = endpoint_url or None
        self.region = region
        self.prefix = normalize_prefix(prefix)
        self.create_bucket = create_bucket
        self.part_size = part_size
        self.multipart_threshold = part_size if multipart_threshold is None else multipart_threshold
        self.spool_dir = spool_dir
        self.chunk_size = chunk_size
        # None for both: botocore's own chain (AWS_* variables, instance role) finds credentials.
        self._access_key = access_key or None
        self._secret_key = secret_key or None
        self._config = AioConfig(
            # Path style by default: MinIO and most self-hosted stores serve
            # http://host:9000/bucket/key, not virtual-hosted bucket names.
            s3={"addressing_style": addressing_style},
            # Throttling and 5xx answers are retried with backoff before a put fails.
            retries={"mode": "standard", "max_attempts": max_attempts},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        self._client: Any = None
        self._client_lock = asyncio.Lock()
        self._exit_stack = contextlib.AsyncExitStack()

    def __repr__(self) -> str:
        return f"S3BlobStore(bucket={self.bucket!r}, prefix={self.prefix!r}, endpoint_url={self.endpoint_url!r})"

    def key_for(self, digest: str) -> str:
        """The object key of a blob; the digest is validated first."""
        return self.prefix + "/".join(fanout_parts(digest))

    # -- connection and errors ---------------------------------------------

    async def _connect(self) -> Any:
        """The S3 client, created (and the bucket made, if asked) on first use."""
        if self._client is not None:
            return self._client
        async with self._client_lock:
            if self._client is None:
                async with contextlib.AsyncExitStack() as stack:
                    client = await stack.enter_async_context(
                        _shared_session().create_client(
                            "s3",
                            endpoint_url=self.endpoint_url,
                            region_name=self.region,
                            aws_access_key_id=self._access_key,
                            aws_secret_access_key=self._secret_key,
                            config=self._config,
                        )
                    )
                    with self._errors():
                        if self.create_bucket:
                            await self._ensure_bucket(client)
                    # Kept open: move the client's cleanup to the store's close().
                    self._exit_stack.push_async_exit(stack.pop_all())
                self._client = client
        return self._client

    async def _ensure_bucket(self, client: Any) -> None:
        try:
            await client.head_bucket(Bucket=self.bucket)
            return
        except ClientError as exc:
            if _error_code(exc) not in _NOT_FOUND_CODES | {"NoSuchBucket"}:
                raise
        arguments: dict[str, Any] = {"Bucket": self.bucket}
        if self.region != "us-east-1":  # us-east-1 refuses an explicit LocationConstraint
            arguments["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        try:
            await client.create_bucket(**arguments)
        except ClientError as exc:
            if _error_code(exc) not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
                raise

    @contextlib.contextmanager
    def _errors(self, digest: str | None = None) -> Iterator[None]:
        """Map S3 and transport errors to the store's: 404 → BlobNotFound, the rest → unavailable."""
        try:
            yield
        except ClientError as exc:
            if digest is not None and _error_code(exc) in _NOT_FOUND_CODES:
                raise BlobNotFound(digest) from None
            raise BlobStoreUnavailable(f"s3 bucket {self.bucket}: {exc}") from exc
        except (BotoCoreError, aiohttp.ClientError, OSError) as exc:
            raise BlobStoreUnavailable(f"s3 bucket {self.bucket}: {exc!r}") from exc

    async def _stored_size(self, digest: str) -> int | None:
        """The object's length, or None when there is none."""
        client = await self._connect()
        try:
            with self._errors(digest):
                response = await client.head_object(Bucket=self.bucket, Key=self.key_for(digest))
        except BlobNotFound:
            return None
        return int(response["ContentLength"])

    # -- writing -----------------------------------------------------------

    def _part_size_for(self, size: int) -> int:
        # Past 10,000 parts of the configured size, grow the parts instead.
        return max(self.part_size, math.ceil(size / MAX_PARTS))

    async def _put_object(self, key: str, body: bytes) -> None:
        md5 = await run_in(None, _md5_base64, body) if len(body) > _THREAD_HASH_SIZE else _md5_base64(body)
        client = await self._connect()
        with self._errors():
            await client.put_object(Bucket=self.bucket, Key=key, Body=body, ContentMD5=md5)

    async def _put_multipart(self, key: str, parts: AsyncIterator[bytes]) -> None:
        client = await self._connect()
        with self._errors():
            upload = await client.create_multipart_upload(Bucket=self.bucket, Key=key)
        upload_id = upload["UploadId"]
        done: list[dict[str, Any]] = []
        try:
            with self._errors():
                async for body in parts:
                    number = len(done) + 1
                    md5 = await run_in(None, _md5_base64, body)
                    response = await client.upload_part(
                        Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body, ContentMD5=md5
                    )
                    done.append({"ETag": response["ETag"], "PartNumber": number})
                    del body  # release the part before reading the next one
                await client.complete_multipart_upload(
                    Bucket=self.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": done}
                )
        except BaseException:
            # Best effort: an upload left unfinished is what cleanup_temp() aborts later.
            with contextlib.suppress(Exception):
                await client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
            raise

    async def put(self, data: bytes) -> BlobRef:
        digest = await run_in(None, _sha256_hex, data) if len(data) > _THREAD_HASH_SIZE else _sha256_hex(data)
        ref = BlobRef(digest, len(data))
        if await self._stored_size(digest) == ref.size:
            return ref
        key = self.key_for(digest)
        if ref.size <= self.multipart_threshold:
            await self._put_object(key, data)
        else:
            await self._put_multipart(key, _slices(data, self._part_size_for(ref.size)))
        return ref

    def _open_spool(self) -> BinaryIO:
        # Anonymous (unlinked at once): a crash cannot leave it behind.
        return tempfile.TemporaryFile("w+b", dir=self.spool_dir)

    async def put_stream(self, chunks: AsyncIterator[bytes]) -> BlobRef:
        try:
            spool = await run_in(None, self._open_spool)
        except OSError as exc:
            raise BlobStoreUnavailable(f"cannot spool a blob for s3 bucket {self.bucket}: {exc}") from exc
        try:
            writer = HashingWriter(spool)
            try:
                await drain(chunks, writer, None)
                await run_in(None, spool.seek, 0)
            except OSError as exc:
                raise BlobStoreUnavailable(f"cannot spool a blob for s3 bucket {self.bucket}: {exc}") from exc
            ref = BlobRef(writer.hexdigest(), writer.size)
            if await self._stored_size(ref.digest) == ref.size:
                return ref
            key = self.key_for(ref.digest)
            if ref.size <= self.multipart_threshold:
                await self._put_object(key, await run_in(None, spool.read))
            else:
                await self._put_multipart(key, _file_parts(spool, self._part_size_for(ref.size)))
            return ref
        finally:
            spool.close()  # frees its disk space

    # -- reading -----------------------------------------------------------

    async def _get_object(self, digest: str, start: int, end: int | None) -> Any:
        """The GetObject response for [start, end), or None when the range starts past the end."""
        arguments: dict[str, Any] = {"Bucket": self.bucket, "Key": self.key_for(digest)}
        if start > 0 or end is not None:
            # HTTP ranges are inclusive (RFC 9110 section 14.1.2); ours are half-open.
            arguments["Range"] = f"bytes={start}-{'' if end is None else end - 1}"
        client = await self._connect()
        try:
            with self._errors(digest):
                return await client.get_object(**arguments)
        except BlobStoreUnavailable as exc:
            # 416: the object exists but the range starts at or past its end
            # (always so for an empty object): empty by our rules.
            cause = exc.__cause__
            if isinstance(cause, ClientError) and _error_code(cause) == "InvalidRange":
                return None
            raise

    async def _require(self, digest: str) -> None:
        if await self._stored_size(digest) is None:
            raise BlobNotFound(digest)

    async def get(self, digest: str) -> bytes:
        validate_digest(digest)
        return await self._read(digest, 0, None)

    async def get_range(self, digest: str, start: int, end: int) -> bytes:
        validate_digest(digest)
        check_range(start, end)
        return await self._read(digest, start, end)

    async def _read(self, digest: str, start: int, end: int | None) -> bytes:
        if end == start:
            # A zero-length HTTP range cannot be written; the answer is empty if the blob exists.
            await self._require(digest)
            return b""
        response = await self._get_object(digest, start, end)
        if response is None:
            return b""
        with self._errors(digest):
            async with response["Body"] as body:
                data: bytes = await body.read()
                return data

    def open_stream(self, digest: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        validate_digest(digest)
        check_range(start, end)
        return self._stream(digest, start, end)

    async def _stream(self, digest: str, start: int, end: int | None) -> AsyncIterator[bytes]:
        if end == start:
            await self._require(digest)
            return
        response = await self._get_object(digest, start, end)
        if response is None:
            return
        body = response["Body"]
        try:
            while True:
                with self._errors(digest):
                    chunk = await body.read(self.chunk_size)
                if not chunk:
                    break
                yield chunk
        finally:
            body.close()  # also when the reader stops early: the connection is not reused half-read

    async def exists(self, digest: str) -> bool:
        validate_digest(digest)
        return await self._stored_size(digest) is not None

    async def size(self, digest: str) -> int:
        validate_digest(digest)
        size = await self._stored_size(digest)
        if size is None:
            raise BlobNotFound(digest)
        return size

    # -- deleting and sweeping ---------------------------------------------

    async def delete(self, digest: str) -> None:
        key = self.key_for(digest)
        client = await self._connect()
        with self._errors():
            await client.delete_object(Bucket=self.bucket, Key=key)  # S3: no error if missing

    def _digest_of(self, key: str) -> str | None:
        """The digest a key names, or None for a key a put could not have made."""
        parts = key[len(self.prefix) :].split("/")
        if len(parts) != 3:
            return None
        top, sub, name = parts
        try:
            return name if fanout_parts(name) == (top, sub, name) else None
        except ValueError:
            return None

    async def list_digests(self) -> AsyncIterator[str]:
        client = await self._connect()
        paginator = client.get_paginator("list_objects_v2")
        with self._errors():
            async for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
                for item in page.get("Contents", ()):
                    digest = self._digest_of(item["Key"])
                    if digest is not None:
                        yield digest

    async def cleanup_temp(self, older_than: timedelta = DEFAULT_TEMP_AGE) -> int:
        """Abort multipart uploads under the prefix started more than `older_than` ago."""
        client = await self._connect()
        cutoff = datetime.now(UTC) - older_than
        stale: list[tuple[str, str]] = []
        paginator = client.get_paginator("list_multipart_uploads")
        with self._errors():
            async for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
                for upload in page.get("Uploads", ()):
                    if upload["Initiated"] < cutoff:
                        stale.append((upload["Key"], upload["UploadId"]))
            for key, upload_id in stale:
                with contextlib.suppress(ClientError):  # finished or aborted meanwhile
                    await client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
        return len(stale)

    async def close(self) -> None:
        self._client = None
        await self._exit_stack.aclose()


def _slices(data: bytes, part_size: int) -> AsyncIterator[bytes]:
    async def parts() -> AsyncIterator[bytes]:
        view = memoryview(data)
        for offset in range(0, len(data), part_size):
            yield bytes(view[offset : offset + part_size])

    return parts()


def _file_parts(file: BinaryIO, part_size: int) -> AsyncIterator[bytes]:
    async def parts() -> AsyncIterator[bytes]:
        while part := await run_in(None, file.read, part_size):
            yield part

    return parts()
