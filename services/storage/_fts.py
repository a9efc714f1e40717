"""The full-text index behind SEARCH BODY and TEXT, in the database's own engine.

SQLite: an FTS5 table whose rowid is the message id. PostgreSQL: tsvector
columns with GIN indexes, language-neutral (`simple` configuration). Both
match words rather than arbitrary substrings (as Dovecot's FTS does): a
search string becomes a phrase of its words, so `SEARCH BODY "quarterly
report"` finds messages with those words in that order.
"""

from __future__ import annotations

import re

from sqlalchemy import ColumnElement, Integer, bindparam, column, text
from sqlalchemy.ext.asyncio import AsyncSession

from services.storage.models import StoredMessage

_WORD = re.compile(r"\w+", re.UNICODE)


def _is_postgres(session: AsyncSession) -> bool:
    return session.bind.dialect.name == "postgresql"


_INSERT_SQL = {
    "postgresql": "INSERT INTO message_fts (message_id, headers, body) "
    "VALUES (:id, to_tsvector('simple', :headers), to_tsvector('simple', :body))",
    "sqlite": "INSERT INTO message_fts (rowid, headers, body) VALUES (:id, :headers, :body)",
}


async def index_text(session: AsyncSession, message_id: int, headers: str, body: str) -> None:
    await index_many(session, [(message_id, headers, body)])


async def index_many(session: AsyncSession, rows: list[tuple[int, str, str]]) -> None:
    """`index_text` for many messages (id, headers, body) in one round trip."""
    if not rows:
        return
    if _is_postgres(session):
        sql = _INSERT_SQL["postgresql"]
        params = [{"id": i, "headers": _pg_safe(h), "body": _pg_safe(b)} for i, h, b in rows]
    else:
        sql = _INSERT_SQL["sqlite"]
        params = [{"id": i, "headers": h, "body": b} for i, h, b in rows]
    await session.execute(text(sql), params)


_COPY_SQL = {
    "postgresql": "INSERT INTO message_fts (message_id, headers, body) "
    "SELECT :new, headers, body FROM message_fts WHERE message_id = :old",
    "sqlite": "INSERT INTO message_fts (rowid, headers, body) "
    "SELECT :new, headers, body FROM message_fts WHERE rowid = :old",
}


async def copy_text(session: AsyncSession, pairs: list[tuple[int, int]]) -> None:
    """Give copied messages (new id) the index rows of their originals (old id)."""
    sql = text(_COPY_SQL["postgresql" if _is_postgres(session) else "sqlite"])
    for old_id, new_id in pairs:
        await session.execute(sql, {"old": old_id, "new": new_id})


async def delete_text(session: AsyncSession, message_ids: list[int]) -> None:
    """SQLite's virtual table has no foreign key cascade; PostgreSQL's rows go with their message."""
    if _is_postgres(session) or not message_ids:
        return
    for start in range(0, len(message_ids), 500):
        chunk = message_ids[start : start + 500]
        await session.execute(
            text("DELETE FROM message_fts WHERE rowid IN :ids").bindparams(bindparam("ids", expanding=True)),
            {"ids": chunk},
        )


def words(query: str) -> list[str]:
    return _WORD.findall(query.lower())


def match_clause(dialect: str, query: str, *, body_only: bool) -> ColumnElement[bool] | None:
    """A condition on StoredMessage.id matching `query`; None when the query has no words (matches all)."""
    terms = words(query)
    if not terms:
        return None
    if dialect == "postgresql":
        # One condition per indexed column, so each can use its GIN index.
        where = "body @@ phraseto_tsquery('simple', :q)"
        if not body_only:
            where += " OR headers @@ phraseto_tsquery('simple', :q)"
        sql = f"SELECT message_id AS id FROM message_fts WHERE {where}"
        value = " ".join(terms)
    else:
        sql = "SELECT rowid AS id FROM message_fts WHERE message_fts MATCH :q"
        value = '"' + " ".join(terms) + '"'
        if body_only:
            value = "body : " + value
    # unique=True: several text keys in one SEARCH each get their own parameter.
    matching = text(sql).bindparams(bindparam("q", value, unique=True)).columns(column("id", Integer))
    return StoredMessage.id.in_(matching)


def _pg_safe(value: str) -> str:
    # PostgreSQL text cannot hold NUL; tsvector input is capped at 1 MB per lexeme set.
    return value.replace("\x00", " ")[:900_000]
