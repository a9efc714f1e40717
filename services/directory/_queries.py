"""The few statements of the directory's hot path, run on the bare database driver.

Resolve and auth ask the same handful of indexed point reads thousands of
times a second. Through SQLAlchemy each costs several times the read itself
(connection checkout, execution context, result objects), so these
statements are plain SQL run on the driver: on SQLite a query-only
`sqlite3` connection used directly on the event loop (an indexed read from
the page cache is cheaper than a hop to a worker thread; WAL readers never
wait for writers), on PostgreSQL an asyncpg pool (asyncpg prepares each
statement once per connection). Only reads that touch a few rows through an
index belong here; the admin API keeps the ORM.

Rows come back as tuples in the order of the SELECT list.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from libs.db import is_sqlite

_ENTRY_COLUMNS = """
SELECT a.id, a.kind, a.local, acc.enabled, al.target, f.targets
FROM addresses a
LEFT JOIN accounts acc ON acc.address_id = a.id
LEFT JOIN aliases al ON al.address_id = a.id
LEFT JOIN forwarders f ON f.address_id = a.id
"""
_CREDENTIAL_COLUMNS = """
SELECT a.local, acc.enabled, acc.password_hash, acc.scram_salt, acc.scram_iterations,
       acc.scram_stored_key, acc.scram_server_key,
       acc.ha1_md5, acc.ha1_sha256, acc.ha1_md5_address, acc.ha1_sha256_address
FROM addresses a JOIN accounts acc ON acc.address_id = a.id
"""
_ACCOUNT_COLUMNS = """
SELECT a.local, acc.real_name, acc.enabled, acc.quota_bytes, acc.quota_messages, acc.settings
FROM addresses a JOIN accounts acc ON acc.address_id = a.id
"""
_MEMBER_COLUMNS = "SELECT group_id, member FROM group_members"
_BY_LOCAL_PG = "WHERE a.domain_id = $1 AND a.local = $2"
DOMAINS = "SELECT id, name, enabled FROM domains"
DOMAIN_ALIASES = "SELECT name, domain_id FROM domain_aliases"
MAX_IN = 500  # values per IN list on SQLite (well under its bound-variable limit)


class HotQueries:
    """Open with `open(url)`; every method returns rows as tuples."""

    async def entries(self, domain_id: int, locals_: Sequence[str]) -> list[Sequence[Any]]:
        raise NotImplementedError

    async def members(self, group_ids: Sequence[int]) -> list[Sequence[Any]]:
        """(group_id, member) rows, members of a group in name order."""
        raise NotImplementedError

    async def credentials(self, domain_id: int, local: str) -> Sequence[Any] | None:
        raise NotImplementedError

    async def account(self, domain_id: int, local: str) -> Sequence[Any] | None:
        raise NotImplementedError

    async def all(self, sql: str) -> list[Sequence[Any]]:
        """A parameterless statement (the small domain tables)."""
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError


async def open_queries(url: str) -> HotQueries:
    if is_sqlite(url):
        return SqliteQueries(make_url(url).database or ":memory:")
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    # These statements leave no session state behind (no SET, LISTEN, locks or cursors), so a
    # connection goes back to the pool without asyncpg's reset, which is a round trip per query.
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=10, reset=_nothing_to_reset)
    return PostgresQueries(pool)


async def _nothing_to_reset(_connection: asyncpg.Connection) -> None:
    return None


class SqliteQueries(HotQueries):
    def __init__(self, path: str) -> None:
        # Autocommit (isolation_level=None): each SELECT sees the latest commit, holds no snapshot.
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, cached_statements=256)
        self._db.execute("PRAGMA query_only=ON")
        self._db.execute("PRAGMA busy_timeout=2000")

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[Sequence[Any]]:
        return self._db.execute(sql, params).fetchall()

    async def entries(self, domain_id: int, locals_: Sequence[str]) -> list[Sequence[Any]]:
        rows: list[Sequence[Any]] = []
        for start in range(0, len(locals_), MAX_IN):
            chunk = locals_[start : start + MAX_IN]
            sql = f"{_ENTRY_COLUMNS} WHERE a.domain_id = ? AND a.local IN ({_marks(len(chunk))})"
            rows += self._rows(sql, (domain_id, *chunk))
        return rows

    async def members(self, group_ids: Sequence[int]) -> list[Sequence[Any]]:
        rows: list[Sequence[Any]] = []
        for start in range(0, len(group_ids), MAX_IN):
            chunk = group_ids[start : start + MAX_IN]
            sql = f"{_MEMBER_COLUMNS} WHERE group_id IN ({_marks(len(chunk))}) ORDER BY group_id, member"
            rows += self._rows(sql, chunk)
        return rows

    async def credentials(self, domain_id: int, local: str) -> Sequence[Any] | None:
        rows = self._rows(f"{_CREDENTIAL_COLUMNS} WHERE a.domain_id = ? AND a.local = ?", (domain_id, local))
        return rows[0] if rows else None

    async def account(self, domain_id: int, local: str) -> Sequence[Any] | None:
        rows = self._rows(f"{_ACCOUNT_COLUMNS} WHERE a.domain_id = ? AND a.local = ?", (domain_id, local))
        return rows[0] if rows else None

    async def all(self, sql: str) -> list[Sequence[Any]]:
        return self._rows(sql)

    async def close(self) -> None:
        self._db.close()


class PostgresQueries(HotQueries):
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def entries(self, domain_id: int, locals_: Sequence[str]) -> list[Sequence[Any]]:
        sql = f"{_ENTRY_COLUMNS} WHERE a.domain_id = $1 AND a.local = ANY($2::text[])"
        return list(await self._pool.fetch(sql, domain_id, list(locals_)))

    async def members(self, group_ids: Sequence[int]) -> list[Sequence[Any]]:
        sql = f"{_MEMBER_COLUMNS} WHERE group_id = ANY($1::int[]) ORDER BY group_id, member"
        return list(await self._pool.fetch(sql, list(group_ids)))

    async def credentials(self, domain_id: int, local: str) -> Sequence[Any] | None:
        return await self._pool.fetchrow(f"{_CREDENTIAL_COLUMNS} {_BY_LOCAL_PG}", domain_id, local)

    async def account(self, domain_id: int, local: str) -> Sequence[Any] | None:
        return await self._pool.fetchrow(f"{_ACCOUNT_COLUMNS} {_BY_LOCAL_PG}", domain_id, local)

    async def all(self, sql: str) -> list[Sequence[Any]]:
        return list(await self._pool.fetch(sql))

    async def close(self) -> None:
        await self._pool.close()


def _marks(count: int) -> str:
    return ",".join("?" * count)
