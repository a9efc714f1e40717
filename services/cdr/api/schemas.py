"""What the CDR API returns (docs/cdr.md describes every field)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from services.cdr.models import Cdr


class Result(StrEnum):
    ANSWERED = "answered"
    BUSY = "busy"
    NO_ANSWER = "no-answer"
    FAILED = "failed"


class CdrOut(BaseModel):
    call_id: str
    leg: str = Field(description="a: the caller's leg; b: the far leg of a B2BUA call")
    caller: str | None = Field(description="the authenticated local account that called, if any")
    callee: str | None = Field(description="the local account that was called, if any")
    from_uri: str
    to_uri: str
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None = Field(description="null while the call is open")
    duration: float = Field(description="seconds from answer to end (0 if not answered), millisecond precision")
    billable_seconds: int = Field(description="duration rounded up to whole seconds")
    result: str | None = Field(description="answered, busy, no-answer or failed; null while open")
    status: int | None = Field(description="final SIP status of the INVITE")
    disconnected_by: str = Field(description="caller, callee or system; empty when unknown")
    ended_by: str = Field(description="bye, cancel, error, timeout, or expired (closed by the cdr service)")
    media: list[dict[str, Any]] = Field(description="relay statistics per media leg, when media was anchored")
    node: str = Field(description="the sip replica that routed the call")

    @classmethod
    def of(cls, row: Cdr) -> CdrOut:
        return cls(
            call_id=row.call_id, leg=row.leg, caller=row.caller, callee=row.callee, from_uri=row.from_uri,
            to_uri=row.to_uri, started_at=row.started_at, answered_at=row.answered_at, ended_at=row.ended_at,
            duration=row.duration_ms / 1000, billable_seconds=row.billable_seconds, result=row.result,
            status=row.status, disconnected_by=row.disconnected_by, ended_by=row.ended_by, media=list(row.media or []),
            node=row.node,
        )  # fmt: skip


class CdrPage(BaseModel):
    items: list[CdrOut]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")


class CallRecords(BaseModel):
    items: list[CdrOut] = Field(description="every leg of the call")


CSV_COLUMNS = ("call_id", "leg", "caller", "callee", "from_uri", "to_uri", "started_at", "answered_at", "ended_at",
               "duration", "billable_seconds", "result", "status", "disconnected_by", "ended_by", "node",
               "media")  # fmt: skip
