"""The local backend's crash safety: what is on disk when a writer fails or dies, and what is fsynced.

The shared contract is in test_blobs.py; these tests look at the files.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from libs.blobs import BlobRef, BlobStoreUnavailable, LocalBlobStore
from libs.blobs.local import TEMP_DIR_NAME

DATA = b"a message body\r\n" * 100
DIGEST = hashlib.sha256(DATA).hexdigest()
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[LocalBlobStore]:
    async with LocalBlobStore(tmp_path / "blobs") as blob_store:
        yield blob_store


def stored_files(root: Path) -> list[Path]:
    """Every file under the root except writes in progress."""
    return sorted(path for path in root.rglob("*") if path.is_file() and path.parent.name != TEMP_DIR_NAME)


def temp_files(root: Path) -> list[Path]:
    temp_dir = root / TEMP_DIR_NAME
    return sorted(temp_dir.iterdir()) if temp_dir.exists() else []


async def test_blobs_fan_out_into_two_directory_levels(store: LocalBlobStore) -> None:
    ref = await store.put(DATA)
    path = store.root / DIGEST[:2] / DIGEST[2:4] / DIGEST
    assert store.path_for(ref.digest) == path
    assert path.read_bytes() == DATA
    assert stored_files(store.root) == [path]
    assert temp_files(store.root) == []


async def test_the_same_bytes_make_one_file(store: LocalBlobStore) -> None:
    await store.put(DATA)
    await store.put(DATA)

    async def body() -> AsyncIterator[bytes]:
        yield DATA

    await store.put_stream(body())
    assert len(stored_files(store.root)) == 1
    assert temp_files(store.root) == []


async def test_a_damaged_copy_is_replaced_by_the_next_put(store: LocalBlobStore) -> None:
    path = store.path_for(DIGEST)
    path.parent.mkdir(parents=True)
    path.write_bytes(DATA[:10])  # as if the disk had lost the end of it
    assert await store.put(DATA) == BlobRef(DIGEST, len(DATA))
    assert path.read_bytes() == DATA


@pytest.mark.parametrize("failing", ["fsync", "replace"])
async def test_a_failed_write_leaves_nothing_under_the_final_name(
    store: LocalBlobStore, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    def fail(*args: object) -> None:
        raise OSError(5, "Input/output error")

    await store.put(b"another blob")  # so the first fsync below is the blob file's own
    monkeypatch.setattr(os, failing, fail)
    with pytest.raises(BlobStoreUnavailable) as caught:
        await store.put(DATA)
    assert isinstance(caught.value.__cause__, OSError)
    assert not store.path_for(DIGEST).exists()
    assert temp_files(store.root) == []  # the writer removed its own temp file
    assert len(stored_files(store.root)) == 1
    monkeypatch.undo()
    assert not await store.exists(DIGEST)
    assert await store.put(DATA) == BlobRef(DIGEST, len(DATA))  # and the store still works


async def test_a_failed_streamed_write_leaves_nothing_under_the_final_name(
    store: LocalBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def body() -> AsyncIterator[bytes]:
        yield DATA

    def fail(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(BlobStoreUnavailable):
        await store.put_stream(body())
    assert stored_files(store.root) == [] and temp_files(store.root) == []


# The writer dies (no cleanup, no exception handling) at its fsync, before the rename.
_DYING_WRITER = """
import asyncio, os, sys
from pathlib import Path
from libs.blobs import LocalBlobStore

def die(fd):
    os._exit(3)

os.fsync = die
asyncio.run(LocalBlobStore(Path(sys.argv[1])).put(sys.stdin.buffer.read()))
"""


async def test_a_writer_killed_mid_put_leaves_only_a_temp_file_which_cleanup_removes(
    store: LocalBlobStore,
) -> None:
    await store.put(b"written before")  # makes tmp/ and proves the cleanup keeps stored blobs
    result = subprocess.run(
        [sys.executable, "-c", _DYING_WRITER, str(store.root)],
        input=DATA,
        cwd=REPO_ROOT,
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 3, result.stderr.decode()
    assert not store.path_for(DIGEST).exists()
    assert not await store.exists(DIGEST)
    [leftover] = temp_files(store.root)
    assert leftover.read_bytes() == DATA

    # A recent temp file may belong to a live writer: kept by default.
    assert await store.cleanup_temp() == 0
    assert leftover.exists()
    two_hours_ago = time.time() - 7200
    os.utime(leftover, (two_hours_ago, two_hours_ago))
    assert await store.cleanup_temp() == 1
    assert temp_files(store.root) == []
    assert len(stored_files(store.root)) == 1
    assert await store.cleanup_temp(older_than=timedelta(0)) == 0


async def test_cleanup_on_a_store_never_written_to(store: LocalBlobStore) -> None:
    assert await store.cleanup_temp(older_than=timedelta(0)) == 0


class FsyncRecorder:
    """Stands in for os.fsync and os.replace: records what was synced or renamed, and in which thread."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []
        self.threads: set[str] = set()
        self._fsync = os.fsync
        self._replace = os.replace

    def fsync(self, fd: int) -> None:
        self.events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        self.threads.add(threading.current_thread().name)
        self._fsync(fd)

    def replace(self, source: str | Path, target: str | Path) -> None:
        self.events.append(("replace", str(target)))
        self._replace(source, target)

    def synced(self) -> list[str]:
        return [path for kind, path in self.events if kind == "fsync"]


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> FsyncRecorder:
    recording = FsyncRecorder()
    monkeypatch.setattr(os, "fsync", recording.fsync)
    monkeypatch.setattr(os, "replace", recording.replace)
    return recording


async def test_the_file_then_the_new_directories_then_the_rename_are_synced(
    tmp_path: Path, recorder: FsyncRecorder
) -> None:
    root = tmp_path / "blobs"
    async with LocalBlobStore(root) as store:
        await store.put(DATA)
    final = root / DIGEST[:2] / DIGEST[2:4] / DIGEST
    events = recorder.events
    replace_at = events.index(("replace", str(final)))
    before, after = events[:replace_at], events[replace_at + 1 :]
    # The data reaches the disk before it gets its final name...
    [(_, temp_path)] = [event for event in before if event[1].endswith(".part")]
    assert Path(temp_path).parent == root / TEMP_DIR_NAME
    # ...each directory created on the way is made durable in its parent...
    synced_before = {path for _, path in before}
    assert {str(tmp_path), str(root), str(root / DIGEST[:2])} <= synced_before
    # ...and the rename is made durable by syncing the blob's directory.
    assert after == [("fsync", str(final.parent))]
    # All of it ran in the store's worker threads, never on the event loop.
    assert all(name.startswith("blobs") for name in recorder.threads), recorder.threads


async def test_existing_directories_are_not_synced_again(store: LocalBlobStore, recorder: FsyncRecorder) -> None:
    await store.put(DATA)
    recorder.events.clear()
    # Another blob in the same leaf directory: only its file and that directory need syncing.
    neighbour = next(
        data
        for data in (b"%d" % number for number in range(10_000_000))
        if hashlib.sha256(data).hexdigest()[:4] == DIGEST[:4]
    )
    ref = await store.put(neighbour)
    leaf = str(store.path_for(ref.digest).parent)
    synced = recorder.synced()
    assert len(synced) == 2 and synced[0].endswith(".part") and synced[1] == leaf


async def test_a_repeated_put_still_syncs_the_directory(store: LocalBlobStore, recorder: FsyncRecorder) -> None:
    # The first writer may have renamed the file and not yet synced the directory.
    await store.put(DATA)
    recorder.events.clear()
    await store.put(DATA)
    assert recorder.events == [("fsync", str(store.path_for(DIGEST).parent))]


async def test_listing_ignores_files_a_put_could_not_have_made(store: LocalBlobStore) -> None:
    ref = await store.put(DATA)
    leaf = store.path_for(ref.digest).parent
    (leaf / "notes.txt").write_text("stray")
    (leaf / ("f" * 64)).write_text("wrong directory for this name")
    (store.root / "zz").mkdir()
    (store.root / "README").write_text("stray")
    assert [digest async for digest in store.list_digests()] == [ref.digest]
