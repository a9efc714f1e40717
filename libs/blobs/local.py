"""Blobs as files in a local directory: the embedded default.

Layout under the root: `ab/cd/abcd…` for the blob whose digest starts with
"abcd", and `tmp/` for writes in progress. `tmp/` lives under the same root,
so it is on the same filesystem and the final rename is atomic.

How a put is made crash-safe (ARCHITECTURE.md, "State and durability"):

1. the bytes go to a new file in `tmp/`, which is fsynced and closed;
2. missing fan-out directories are created, and each new one's parent is
   fsynced so the directory entry itself survives a power cut;
3. the temporary file is renamed to its final name (atomic: a reader sees
   the whole blob or nothing; renaming over an existing copy is harmless,
   the content is the same by construction);
4. the final directory is fsynced, making the rename durable.

So a crash at any step leaves at most a stray file in `tmp/`, never a short
file under a final name. `cleanup_temp()` removes the strays. All file work
runs in a small thread pool of the store's own, so the event loop never
blocks on the disk and a burst of blob I/O cannot starve other users of the
default pool (such as DNS lookups).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import BinaryIO, TypeVar

from libs.blobs._stream import HashingWriter, drain, run_in
from libs.blobs.base import (
    DEFAULT_TEMP_AGE,
    STREAM_CHUNK_SIZE,
    BlobError,
    BlobNotFound,
    BlobRef,
    BlobStore,
    BlobStoreUnavailable,
    check_range,
    clamp_range,
    fanout_parts,
    validate_digest,
)

TEMP_DIR_NAME = "tmp"
TEMP_SUFFIX = ".part"
_HEX = frozenset("0123456789abcdef")

T = TypeVar("T")


def fsync_directory(path: Path) -> None:
    """Make the entries of `path` (creations, renames) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _is_fanout_name(name: str) -> bool:
    return len(name) == 2 and set(name) <= _HEX


class _TempFile:
    """A file being written in `tmp/`; `discard()` removes it after a failure."""

    def __init__(self, path: Path, file: BinaryIO) -> None:
        self.path = path
        self.file = file

    def discard(self) -> None:
        # Plain calls, safe to make on the loop thread while handling a
        # cancellation: closing and unlinking one file does not wait on the disk.
        try:
            self.file.close()
        except OSError:
            pass
        self.path.unlink(missing_ok=True)


class LocalBlobStore(BlobStore):
    """Content-addressed blobs under `root` (created on first write)."""

    def __init__(self, root: Path, *, max_workers: int = 8, chunk_size: int = STREAM_CHUNK_SIZE) -> None:
        self.root = Path(root)
        self.temp_dir = self.root / TEMP_DIR_NAME
        self.chunk_size = chunk_size
        self._executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="blobs")
        self._prepared = False

    def __repr__(self) -> str:
        return f"LocalBlobStore(root={str(self.root)!r})"

    def path_for(self, digest: str) -> Path:
        """The final path of a blob; the digest is validated first, so it cannot escape the root."""
        top, sub, name = fanout_parts(digest)
        return self.root / top / sub / name

    # -- running file work off the loop ------------------------------------

    async def _call(self, function: Callable[..., T], *args: object) -> T:
        """Run `function` in the pool; disk errors become `BlobStoreUnavailable`."""
        try:
            return await run_in(self._executor, function, *args)
        except BlobError:
            raise
        except OSError as exc:
            raise BlobStoreUnavailable(f"blob store at {self.root}: {exc}") from exc

    # -- writing (runs in the pool) ----------------------------------------

    def _ensure_directory(self, path: Path) -> None:
        """Create `path` and missing parents, fsyncing the parent of each one created."""
        if path.is_dir():
            return
        self._ensure_directory(path.parent)
        try:
            path.mkdir()
        except FileExistsError:
            pass  # a concurrent writer made it; its entry may not be synced yet, so sync anyway
        fsync_directory(path.parent)

    def _prepare(self) -> None:
        if not self._prepared:
            self._ensure_directory(self.temp_dir)
            self._prepared = True

    def _open_temp(self) -> _TempFile:
        self._prepare()
        path = self.temp_dir / f"{secrets.token_hex(16)}{TEMP_SUFFIX}"
        # O_EXCL: never share a file with another writer; mode 0o666 lets the umask decide.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        return _TempFile(path, os.fdopen(fd, "wb"))

    def _already_stored(self, final: Path, size: int) -> bool:
        """Whether a complete copy is in place (a wrong length means damage: write it again)."""
        try:
            return final.stat().st_size == size
        except FileNotFoundError:
            return False

    def _commit(self, temp: _TempFile, digest: str, size: int) -> BlobRef:
        """Steps 1 (sync) to 4 of the module docstring for a fully written temp file."""
        temp.file.flush()
        os.fsync(temp.file.fileno())
        temp.file.close()
        final = self.path_for(digest)
        if self._already_stored(final, size):
            temp.discard()
            # Another writer may have renamed it but not yet synced the directory.
            fsync_directory(final.parent)
        else:
            self._ensure_directory(final.parent)
            os.replace(temp.path, final)
            fsync_directory(final.parent)
        return BlobRef(digest, size)

    def _put_bytes(self, data: bytes) -> BlobRef:
        digest = hashlib.sha256(data).hexdigest()
        final = self.path_for(digest)
        if self._already_stored(final, len(data)):
            fsync_directory(final.parent)  # as in _commit
            return BlobRef(digest, len(data))
        temp = self._open_temp()
        try:
            temp.file.write(data)
            return self._commit(temp, digest, len(data))
        except BaseException:
            temp.discard()
            raise

    async def put(self, data: bytes) -> BlobRef:
        return await self._call(self._put_bytes, data)

    async def put_stream(self, chunks: AsyncIterator[bytes]) -> BlobRef:
        temp = await self._call(self._open_temp)
        try:
            writer = HashingWriter(temp.file)
            try:
                await drain(chunks, writer, self._executor)
            except OSError as exc:
                raise BlobStoreUnavailable(f"blob store at {self.root}: {exc}") from exc
            return await self._call(self._commit, temp, writer.hexdigest(), writer.size)
        except BaseException:
            # Includes cancellation and a failing source iterator.
            temp.discard()
            raise

    # -- reading -----------------------------------------------------------

    def _open_blob(self, digest: str) -> BinaryIO:
        try:
            return self.path_for(digest).open("rb")
        except FileNotFoundError:
            raise BlobNotFound(digest) from None

    def _read_all(self, digest: str) -> bytes:
        with self._open_blob(digest) as file:
            return file.read()

    def _read_range(self, digest: str, start: int, end: int | None) -> bytes:
        with self._open_blob(digest) as file:
            begin, stop = clamp_range(start, end, os.fstat(file.fileno()).st_size)
            file.seek(begin)
            return file.read(stop - begin)

    def _open_at(self, digest: str, start: int, end: int | None) -> tuple[BinaryIO, int]:
        file = self._open_blob(digest)
        try:
            begin, stop = clamp_range(start, end, os.fstat(file.fileno()).st_size)
            file.seek(begin)
        except BaseException:
            file.close()
            raise
        return file, stop - begin

    async def get(self, digest: str) -> bytes:
        validate_digest(digest)
        return await self._call(self._read_all, digest)

    async def get_range(self, digest: str, start: int, end: int) -> bytes:
        validate_digest(digest)
        check_range(start, end)
        return await self._call(self._read_range, digest, start, end)

    def open_stream(self, digest: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        validate_digest(digest)
        check_range(start, end)
        return self._stream(digest, start, end)

    async def _stream(self, digest: str, start: int, end: int | None) -> AsyncIterator[bytes]:
        file, remaining = await self._call(self._open_at, digest, start, end)
        try:
            while remaining > 0:
                data = await self._call(file.read, min(self.chunk_size, remaining))
                if not data:
                    break
                remaining -= len(data)
                yield data
        finally:
            file.close()

    def _stat_size(self, digest: str) -> int:
        try:
            return self.path_for(digest).stat().st_size
        except FileNotFoundError:
            raise BlobNotFound(digest) from None

    async def exists(self, digest: str) -> bool:
        validate_digest(digest)
        return await self._call(self.path_for(digest).is_file)

    async def size(self, digest: str) -> int:
        validate_digest(digest)
        return await self._call(self._stat_size, digest)

    # -- deleting and sweeping ---------------------------------------------

    async def delete(self, digest: str) -> None:
        # No directory fsync: a delete lost in a crash only brings back an
        # unreferenced blob, which the next sweep removes again.
        validate_digest(digest)
        await self._call(self.path_for(digest).unlink, True)

    def _list_fanout(self) -> list[str]:
        try:
            return sorted(
                entry.name for entry in os.scandir(self.root) if _is_fanout_name(entry.name) and entry.is_dir()
            )
        except FileNotFoundError:
            return []

    def _list_under(self, top: str) -> list[str]:
        """Digests under one first-level directory: 1/256 of the store per thread hop."""
        found = []
        top_dir = self.root / top
        for sub in os.scandir(top_dir):
            if not (_is_fanout_name(sub.name) and sub.is_dir()):
                continue
            prefix = top + sub.name
            for entry in os.scandir(sub.path):
                # Only names a put could have made; anything else is not ours.
                name = entry.name
                if len(name) == 64 and name.startswith(prefix) and set(name) <= _HEX:
                    found.append(name)
        return found

    async def list_digests(self) -> AsyncIterator[str]:
        for top in await self._call(self._list_fanout):
            for digest in await self._call(self._list_under, top):
                yield digest

    def _remove_stale_temp(self, older_than: timedelta) -> int:
        cutoff = time.time() - older_than.total_seconds()
        removed = 0
        try:
            entries = list(os.scandir(self.temp_dir))
        except FileNotFoundError:
            return 0
        for entry in entries:
            try:
                # A live writer's file is recent: every write moves its mtime.
                if entry.name.endswith(TEMP_SUFFIX) and entry.stat().st_mtime < cutoff:
                    os.unlink(entry.path)
                    removed += 1
            except FileNotFoundError:
                continue  # its writer finished or another cleanup got there first
        return removed

    async def cleanup_temp(self, older_than: timedelta = DEFAULT_TEMP_AGE) -> int:
        return await self._call(self._remove_stale_temp, older_than)

    async def close(self) -> None:
        await run_in(None, self._executor.shutdown, True)
