"""A fast path for small, indexed, read-only queries on a request's hot path.

On SQLite, aiosqlite hops to a worker thread for every statement, which
costs more than an indexed point read itself (tens of microseconds from the
page cache). `Reader` runs such reads on a synchronous, query-only SQLite
connection directly in the event loop. On PostgreSQL it uses the async
engine without a pre-ping per checkout. Only Core statements that touch a
handful of rows through an index belong here; anything that can scan goes
through the normal async session.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy
from sqlalchemy import event
from sqlalchemy.engine import Row, make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import StaticPool
from sqlalchemy.sql import Executable

from libs.db import is_sqlite


def _query_only(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA query_only=ON")
    cursor.execute("PRAGMA busy_timeout=2000")
    cursor.close()


class Reader:
    def __init__(self, url: str) -> None:
        self._sqlite = is_sqlite(url)
        if self._sqlite:
            sync_url = make_url(url).set(drivername="sqlite")
            # One connection, used only from the event loop's thread.
            self._sync = sqlalchemy.create_engine(
                sync_url, poolclass=StaticPool, connect_args={"check_same_thread": False}
            )
            event.listen(self._sync, "connect", _query_only)
        else:
            self._async = create_async_engine(url, pool_size=10, max_overflow=10, pool_recycle=1800)

    async def all(self, statement: Executable, params: dict[str, Any] | None = None) -> Sequence[Row[Any]]:
        """Rows of `statement`; build statements once with bindparam() and pass `params`,
        so SQLAlchemy's compiled cache does the rest."""
        if self._sqlite:
            with self._sync.connect() as connection:
                return connection.execute(statement, params or {}).all()
        async with self._async.connect() as connection:
            return (await connection.execute(statement, params or {})).all()

    async def first(self, statement: Executable, params: dict[str, Any] | None = None) -> Row[Any] | None:
        rows = await self.all(statement, params)
        return rows[0] if rows else None

    async def close(self) -> None:
        if self._sqlite:
            self._sync.dispose()
        else:
            await self._async.dispose()
