"""The daily CDR text files for operators who bill from files.

One line per finished call leg, appended to `cdr-YYYY-MM-DD.log` for the UTC
day of the call's end. Tab-separated; a file starts with a comment line
naming the format version and the fields (`HEADER`); the format is in
docs/cdr.md. Values escape backslash, tab, CR and LF as `\\\\`, `\\t`, `\\r`, `\\n`.

Exactly once per call, even across crashes: a row that becomes final is
committed with `filed = false`; its line is then appended and fsynced, the
row marked filed, and only then is the stream acknowledged. A crash between
the append and the mark (or a failed append) leaves rows that are final but
unfiled: at start, and before the next batch after a failure, the service
takes those (of its own `file_owner`) and writes only the ones whose
(call_id, leg) is not already in their day's file (`write_missing`). A line
torn by a crash in mid-write has no newline at its end; it is cut off before
the next append, so it is written again whole.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from services.cdr._records import Record

FORMAT_VERSION = 1
FIELDS = ("call_id", "leg", "start", "answer", "end", "duration", "billable_seconds", "result", "status",
          "disconnected_by", "ended_by", "caller", "callee", "from_uri", "to_uri", "node")  # fmt: skip
HEADER = f"# parley-cdr {FORMAT_VERSION}\t" + "\t".join(FIELDS) + "\n"
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\r": "\\r", "\n": "\\n"})


def file_name(day: str) -> str:
    return f"cdr-{day}.log"


def day_of(record: Record) -> str:
    assert record.ended_at is not None
    return record.ended_at.astimezone(UTC).strftime("%Y-%m-%d")


def timestamp(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def line(record: Record) -> str:
    values = (
        record.call_id, record.leg, timestamp(record.started_at), timestamp(record.answered_at),
        timestamp(record.ended_at), f"{record.duration_ms / 1000:.3f}", str(record.billable_seconds),
        record.result or "", "" if record.status is None else str(record.status), record.disconnected_by,
        record.ended_by, record.caller or "", record.callee or "", record.from_uri, record.to_uri, record.node,
    )  # fmt: skip
    return "\t".join(value.translate(_ESCAPES) for value in values) + "\n"


def key_of(text: str) -> tuple[str, str] | None:
    """The (call_id, leg) of a file line, as escaped in the file (comments and torn lines: None)."""
    if text.startswith("#") or not text.endswith("\n"):
        return None
    fields = text.split("\t", 2)
    return (fields[0], fields[1]) if len(fields) == 3 else None


class DailyFiles:
    """Appends lines to the day files in `directory` (blocking; run it in a thread)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def append(self, records: Iterable[Record]) -> None:
        for day, lines in _by_day(records).items():
            self._append(day, lines)

    def write_missing(self, records: Iterable[Record]) -> int:
        """Append the records whose lines are not in their day's file yet; returns how many were written."""
        written = 0
        for day, lines in _by_day(records).items():
            present = self.keys(day)
            missing = [text for text in lines if key_of(text) not in present]
            self._append(day, missing)
            written += len(missing)
        return written

    def keys(self, day: str) -> set[tuple[str, str] | None]:
        path = self.directory / file_name(day)
        if not path.exists():
            return set()
        with path.open(encoding="utf-8", newline="\n") as f:
            return {key_of(text) for text in f}

    def _append(self, day: str, lines: list[str]) -> None:
        if not lines:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / file_name(day)
        created = not path.exists()
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o640)
        try:
            size = _cut_torn_line(fd)
            data = ("".join(lines) if size else HEADER + "".join(lines)).encode("utf-8")
            os.lseek(fd, 0, os.SEEK_END)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:  # the new name must survive a power cut too
            _fsync_directory(self.directory)


def _by_day(records: Iterable[Record]) -> dict[str, list[str]]:
    days: dict[str, list[str]] = defaultdict(list)
    for record in records:
        days[day_of(record)].append(line(record))
    return days


def _cut_torn_line(fd: int) -> int:
    """Truncate a last line without its newline (a crash in mid-write); returns the new size."""
    size = os.lseek(fd, 0, os.SEEK_END)
    if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
        return size
    start = max(0, size - 1024 * 1024)
    tail = os.pread(fd, size - start, start)
    keep = start + tail.rfind(b"\n") + 1 if b"\n" in tail else 0
    os.ftruncate(fd, keep)
    return keep


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
