"""The daily CDR file: format, rotation by UTC day, torn lines, idempotent recovery."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from services.cdr._daily_file import FIELDS, HEADER, DailyFiles, line
from services.cdr._records import Record, merge, new_record
from tests.cdr.events import T0, call_events


def finished(call_id: str, **kwargs: object) -> Record:
    attempted, _, ended = call_events(call_id, **kwargs)  # type: ignore[arg-type]
    record = new_record(attempted)
    merge(record, attempted)
    merge(record, ended)
    return record


def test_line_format(tmp_path: Path) -> None:
    record = finished("abc@host", talk=5.001)
    fields = line(record).rstrip("\n").split("\t")
    assert len(fields) == len(FIELDS)
    values = dict(zip(FIELDS, fields, strict=True))
    assert values["call_id"] == "abc@host" and values["leg"] == "a"
    assert values["start"] == "2026-11-26T10:00:00.000Z"
    assert values["answer"] == "2026-11-26T10:00:02.000Z"
    assert values["end"] == "2026-11-26T10:00:07.001Z"
    assert values["duration"] == "5.001" and values["billable_seconds"] == "6"
    assert values["result"] == "answered" and values["status"] == "200"
    assert values["caller"] == "alice@example.test" and values["node"] == "sip1"


def test_tabs_and_newlines_are_escaped() -> None:
    record = finished("x\ty\nz\\w")
    assert line(record).split("\t", 1)[0] == "x\\ty\\nz\\\\w"
    assert line(record).count("\n") == 1


def test_files_rotate_by_the_utc_day_of_the_end(tmp_path: Path) -> None:
    files = DailyFiles(tmp_path)
    late = finished("late", start=T0.replace(hour=23, minute=59, second=50), talk=30)
    files.append([finished("early"), late])
    day1 = (tmp_path / "cdr-2026-11-26.log").read_text()
    day2 = (tmp_path / "cdr-2026-11-27.log").read_text()
    assert day1.startswith(HEADER) and day2.startswith(HEADER)
    assert "early\t" in day1 and "late\t" in day2 and "late\t" not in day1


def test_write_missing_skips_lines_already_written(tmp_path: Path) -> None:
    files = DailyFiles(tmp_path)
    first, second = finished("one"), finished("two")
    files.append([first])
    assert files.write_missing([first, second]) == 1
    assert files.write_missing([first, second]) == 0
    lines = (tmp_path / "cdr-2026-11-26.log").read_text().splitlines()
    assert [text.split("\t")[0] for text in lines[1:]] == ["one", "two"]


def test_a_torn_last_line_is_cut_and_written_again(tmp_path: Path) -> None:
    files = DailyFiles(tmp_path)
    first, second = finished("one"), finished("two", start=T0 + timedelta(minutes=1))
    files.append([first])
    path = tmp_path / "cdr-2026-11-26.log"
    with path.open("a") as f:
        f.write(line(second)[:20])  # a crash in mid-write
    assert files.write_missing([first, second]) == 1
    lines = path.read_text().splitlines()
    assert lines[0] == HEADER.rstrip("\n")
    assert [text.split("\t")[0] for text in lines[1:]] == ["one", "two"]
    assert lines[2] == line(second).rstrip("\n")
