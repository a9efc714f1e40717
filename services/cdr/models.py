"""The cdr service's one table: `cdrs`, one row per call leg.

A row is unique by (call_id, leg). It is created by whichever event of the
call arrives first, merged with the others as they come (services/cdr/_records.py),
and final once `ended_at` is set: a final row is never changed again.
`filed` says whether its line is in the daily file; `file_owner` names the
cdr process that must write it (files are per process, docs/cdr.md).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from libs.db import UTCDateTime

# SQLite only aliases the rowid for INTEGER PRIMARY KEY; PostgreSQL wants 64 bits.
Id = BigInteger().with_variant(Integer, "sqlite")


class Base(DeclarativeBase):
    pass


class Cdr(Base):
    __tablename__ = "cdrs"
    __table_args__ = (
        UniqueConstraint("call_id", "leg", name="uq_cdrs_call_leg"),
        Index("ix_cdrs_started", "started_at", "id"),
        Index("ix_cdrs_caller", "caller"),
        Index("ix_cdrs_callee", "callee"),
        Index("ix_cdrs_caller_domain", "caller_domain"),
        Index("ix_cdrs_callee_domain", "callee_domain"),
        Index("ix_cdrs_unfiled", "filed", "file_owner"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    call_id: Mapped[str] = mapped_column(String(256))
    leg: Mapped[str] = mapped_column(String(8))
    from_uri: Mapped[str] = mapped_column(String(2048))
    to_uri: Mapped[str] = mapped_column(String(2048))
    caller: Mapped[str | None] = mapped_column(String(320))
    callee: Mapped[str | None] = mapped_column(String(320))
    caller_domain: Mapped[str | None] = mapped_column(String(253))
    callee_domain: Mapped[str | None] = mapped_column(String(253))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    duration_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    billable_seconds: Mapped[int] = mapped_column(Integer, default=0)
    result: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[int | None] = mapped_column(Integer)
    ended_by: Mapped[str] = mapped_column(String(16), default="")
    disconnected_by: Mapped[str] = mapped_column(String(16), default="")
    media: Mapped[list[Any]] = mapped_column(JSON, default=list)
    node: Mapped[str] = mapped_column(String(255), default="")
    filed: Mapped[bool] = mapped_column(Boolean, default=False)
    file_owner: Mapped[str] = mapped_column(String(255), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
