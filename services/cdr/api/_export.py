"""CSV (RFC 4180) and JSON Lines renderings of records, streamed row by row."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator

from services.cdr._daily_file import timestamp
from services.cdr.api.schemas import CSV_COLUMNS, CdrOut
from services.cdr.models import Cdr


def csv_row(row: Cdr) -> list[str]:
    return [
        row.call_id, row.leg, row.caller or "", row.callee or "", row.from_uri, row.to_uri, timestamp(row.started_at),
        timestamp(row.answered_at), timestamp(row.ended_at), f"{row.duration_ms / 1000:.3f}", str(row.billable_seconds),
        row.result or "", "" if row.status is None else str(row.status), row.disconnected_by, row.ended_by, row.node,
        json.dumps(row.media or [], separators=(",", ":")),
    ]  # fmt: skip


async def csv_lines(rows: AsyncIterator[Cdr]) -> AsyncIterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    async for row in rows:
        writer.writerow(csv_row(row))
        if buffer.tell() > 64 * 1024:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


async def jsonl_lines(rows: AsyncIterator[Cdr]) -> AsyncIterator[str]:
    chunk: list[str] = []
    async for row in rows:
        chunk.append(CdrOut.of(row).model_dump_json() + "\n")
        if len(chunk) >= 200:
            yield "".join(chunk)
            chunk = []
    yield "".join(chunk)
