"""The blob store contract: references, errors, digest and range rules, the interface.

A blob is named by the lowercase hex sha256 of its bytes, so a name is also
a checksum and the same bytes are stored once however often they are put
(the same message delivered to 50 local recipients is one blob). Every
backend follows the same rules, checked by one shared contract test suite:

- A digest is exactly 64 lowercase hex characters. It is checked before it
  reaches a file path or an object key, so "../../etc/passwd" can never name
  a file; anything else raises `InvalidDigest`.
- A put returns only once the blob is durable (fsynced, or acknowledged by
  the object store), so metadata naming it may be committed right after
  (ARCHITECTURE.md, "State and durability").
- Byte ranges are half-open, [start, end). Positions past the end of the
  blob are clamped to its size, so a range that starts at or beyond the end
  is empty rather than an error, as an IMAP partial FETCH needs (RFC 3501
  section 6.4.5: "If the starting octet is beyond the end of the text, an
  empty string is returned"). A negative start, or an end before the start,
  is a caller's bug and raises `InvalidRange`.
- `delete` of a missing blob is not an error: a garbage collector racing
  another one, or retrying after a crash, must not fail.
"""

from __future__ import annotations

import abc
import asyncio
import re
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass
from datetime import timedelta
from types import TracebackType
from typing import Self

DIGEST_LENGTH = 64
# fullmatch on an explicit class: `$` would also accept a trailing newline.
_DIGEST = re.compile(r"[0-9a-f]{64}")

# How many bytes one read of a stream yields, and the default age after which
# a temporary file or upload is taken to belong to a crashed writer.
STREAM_CHUNK_SIZE = 256 * 1024
DEFAULT_TEMP_AGE = timedelta(hours=1)


class BlobError(Exception):
    """Base of every error the blob store raises."""


class BlobNotFound(BlobError, LookupError):
    """No blob with this digest is stored."""

    def __init__(self, digest: str) -> None:
        super().__init__(f"blob {digest} not found")
        self.digest = digest


class InvalidDigest(BlobError, ValueError):
    """The string is not a lowercase hex sha256 digest; it never reached a path or key."""


class InvalidRange(BlobError, ValueError):
    """A negative start, or an end before the start."""


class BlobStoreUnavailable(BlobError):
    """The backend failed (disk error, object store unreachable or refusing).

    Callers treat it as a temporary failure (SMTP 451, IMAP NO [UNAVAILABLE])
    and may retry; the underlying error is chained as `__cause__`.
    """


def validate_digest(digest: object) -> str:
    """Return `digest` if it is 64 lowercase hex characters, else raise `InvalidDigest`."""
    if not isinstance(digest, str) or _DIGEST.fullmatch(digest) is None:
        # repr() and a cut: the value may be hostile and long.
        raise InvalidDigest(f"not a lowercase hex sha256 digest: {digest!r:.80}")
    return digest


def fanout_parts(digest: str) -> tuple[str, str, str]:
    """`abcd…` → ("ab", "cd", "abcd…"): two directory levels keep directories small.

    With 65536 leaf directories, a hundred million blobs is ~1500 per directory.
    """
    validate_digest(digest)
    return digest[0:2], digest[2:4], digest


def check_range(start: int, end: int | None) -> None:
    """Refuse ranges no clamping can make sense of (see the module docstring)."""
    if start < 0:
        raise InvalidRange(f"range start must be >= 0, got {start}")
    if end is not None and end < start:
        raise InvalidRange(f"range end {end} is before its start {start}")


def clamp_range(start: int, end: int | None, size: int) -> tuple[int, int]:
    """The part of [start, end) that lies inside a blob of `size` bytes, as (start, stop)."""
    check_range(start, end)
    stop = size if end is None else min(end, size)
    return min(start, stop), stop


@dataclass(frozen=True, slots=True)
class BlobRef:
    """What a put returns and what metadata stores: the content hash and the length."""

    digest: str
    size: int

    def __post_init__(self) -> None:
        validate_digest(self.digest)
        if self.size < 0:
            raise ValueError(f"blob size must be >= 0, got {self.size}")


class BlobStore(abc.ABC):
    """A content-addressed store of immutable byte strings.

    Implementations: `LocalBlobStore` (a directory, the embedded default) and
    `S3BlobStore` (an S3-compatible object store, at scale). Use as an async
    context manager, or call `close()` when done.
    """

    @abc.abstractmethod
    async def put(self, data: bytes) -> BlobRef:
        """Store `data` durably and return its reference; storing it again is a no-op."""

    @abc.abstractmethod
    async def put_stream(self, chunks: AsyncIterator[bytes]) -> BlobRef:
        """Like `put`, for a body that arrives in chunks; memory stays bounded by the chunk size."""

    @abc.abstractmethod
    async def get(self, digest: str) -> bytes:
        """The whole blob; `BlobNotFound` if it is not stored."""

    @abc.abstractmethod
    async def get_range(self, digest: str, start: int, end: int) -> bytes:
        """Bytes [start, end) of the blob, clamped to its size (module docstring)."""

    @abc.abstractmethod
    def open_stream(self, digest: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """Bytes [start, end) (to the end when `end` is None) in chunks, for large bodies.

        The digest and range are checked at the call; `BlobNotFound` is raised
        when iteration starts. Close the iterator (`aclose()`) if it is left
        before its end, so the file or connection behind it is released at once.
        """

    @abc.abstractmethod
    async def exists(self, digest: str) -> bool:
        """Whether the blob is stored."""

    async def missing(self, digests: Collection[str]) -> set[str]:
        """Those of `digests` that are not stored (one batch of deliveries checks its blobs at once)."""
        ordered = list(digests)
        found = await asyncio.gather(*(self.exists(digest) for digest in ordered))
        return {digest for digest, there in zip(ordered, found, strict=True) if not there}

    @abc.abstractmethod
    async def size(self, digest: str) -> int:
        """The blob's length in bytes; `BlobNotFound` if it is not stored."""

    @abc.abstractmethod
    async def delete(self, digest: str) -> None:
        """Remove the blob; a missing blob is not an error (idempotent, for GC retries)."""

    @abc.abstractmethod
    def list_digests(self) -> AsyncIterator[str]:
        """Every stored digest, in no particular order (the sweep of a mark-and-sweep GC)."""

    @abc.abstractmethod
    async def cleanup_temp(self, older_than: timedelta = DEFAULT_TEMP_AGE) -> int:
        """Remove what crashed writers left (temporary files, unfinished uploads); return how many."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release threads and connections; the store is unusable afterwards."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()
