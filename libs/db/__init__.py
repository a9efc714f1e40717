"""Async SQLAlchemy for the owning services (directory, storage, cdr).

SQLite (`sqlite+aiosqlite`) is the embedded default; PostgreSQL
(`postgresql+asyncpg`) the scale-out store. SQLite is opened in WAL mode with
`synchronous=FULL`, so a commit is on disk before it returns: a success reply
sent after commit survives a power cut.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.types import TypeDecorator


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _prepare_sqlite_file(url: str) -> None:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    for pragma in (
        "journal_mode=WAL",
        "synchronous=FULL",
        "foreign_keys=ON",
        "busy_timeout=10000",
    ):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _sqlite_manual_transactions(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event below issue BEGIN itself, instead of the driver.
    dbapi_connection.isolation_level = None


def _sqlite_begin_immediate(connection: Any) -> None:
    # A deferred transaction that reads first and writes later fails with SQLITE_BUSY
    # when another connection committed in between (WAL snapshots). Taking the write
    # lock up front makes writers queue (busy_timeout) instead of failing.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_engine(url: str, *, pool_size: int = 10, echo: bool = False, read_only: bool = False) -> AsyncEngine:
    """An engine for `url`. On SQLite every transaction is BEGIN IMMEDIATE unless `read_only`
    (read-only engines never block writers in WAL mode)."""
    if is_sqlite(url):
        _prepare_sqlite_file(url)
        engine = create_async_engine(url, echo=echo)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        if not read_only:
            event.listen(engine.sync_engine, "connect", _sqlite_manual_transactions)
            event.listen(engine.sync_engine, "begin", _sqlite_begin_immediate)
        return engine
    # asyncpg caches prepared statements; after five runs PostgreSQL may switch to a
    # generic plan that ignores the actual values (a mailbox id, a search phrase) and
    # scans where an index would do. Custom plans cost a little planning each time.
    connect_args = {"server_settings": {"plan_cache_mode": "force_custom_plan"}} if read_only else {}
    return create_async_engine(
        url, echo=echo, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True, connect_args=connect_args
    )


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that comes back timezone-aware (UTC) on SQLite too, which stores none."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value
