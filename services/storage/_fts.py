"""The full-text index behind SEARCH BODY and TEXT, in the database's own engine.

SQLite: an FTS5 table whose rowid is the message id. PostgreSQL: tsvector
columns with GIN indexes, language-neutral (`simple` configuration). Both
match words rather than arbitrary substrings (as Dovecot's FTS does): a
search string becomes a phrase of its words, so `SEARCH BODY "quarterly
report"` finds messages with those words in that order.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from sqlalchemy import ColumnElement, Integer, TextClause, bindparam, column, text
from sqlalchemy.ext.asyncio import AsyncSession

from services.storage.models import StoredMessage

_WORD = re.compile(r"\w+", re.UNICODE)


def _is_postgres(session: AsyncSession) -> bool:
    return session.bind.dialect.name == "postgresql"


class IndexRow(NamedTuple):
    message_id: int
    mailbox_id: int
    uid: int
    headers: str
    body: str


# PostgreSQL keeps each row's mailbox and UID too, so a text search can answer from this
# table alone (see search_uids); FTS5's rowid is the message id and nothing more.
_INSERT_SQL = {
    "postgresql": "INSERT INTO message_fts (message_id, mailbox_id, uid, headers, body) "
    "VALUES (:id, :mailbox_id, :uid, to_tsvector('simple', :headers), to_tsvector('simple', :body))",
    "sqlite": "INSERT INTO message_fts (rowid, headers, body) VALUES (:id, :headers, :body)",
}


async def index_text(session: AsyncSession, message: StoredMessage, headers: str, body: str) -> None:
    await index_many(session, [IndexRow(message.id, message.mailbox_id, message.uid, headers, body)])


async def index_many(session: AsyncSession, rows: list[IndexRow]) -> None:
    """`index_text` for many messages in one round trip."""
    if not rows:
        return
    if _is_postgres(session):
        sql = _INSERT_SQL["postgresql"]
        params = [
            {"id": r.message_id, "mailbox_id": r.mailbox_id, "uid": r.uid, "headers": _pg_safe(r.headers),
             "body": _pg_safe(r.body)}
            for r in rows
        ]  # fmt: skip
    else:
        sql = _INSERT_SQL["sqlite"]
        params = [{"id": r.message_id, "headers": r.headers, "body": r.body} for r in rows]
    await session.execute(text(sql), params)


_COPY_SQL = {
    "postgresql": "INSERT INTO message_fts (message_id, mailbox_id, uid, headers, body) "
    "SELECT :new, :mailbox_id, :uid, headers, body FROM message_fts WHERE message_id = :old",
    "sqlite": "INSERT INTO message_fts (rowid, headers, body) "
    "SELECT :new, headers, body FROM message_fts WHERE rowid = :old",
}


async def copy_text(session: AsyncSession, pairs: list[tuple[StoredMessage, StoredMessage]]) -> None:
    """Give copied messages the index rows of their originals: (original, copy) pairs."""
    sql = text(_COPY_SQL["postgresql" if _is_postgres(session) else "sqlite"])
    for original, copy in pairs:
        await session.execute(sql, {"old": original.id, "new": copy.id, "mailbox_id": copy.mailbox_id, "uid": copy.uid})


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


def joined_text_uids(mailbox_id: int, query: str, *, body_only: bool) -> TextClause | None:
    """PostgreSQL: one row, the UIDs in the mailbox whose text matches `query`, ascending and
    comma-joined, read from the index table alone (no join back to the wide messages rows);
    None when the query has no words."""
    terms = words(query)
    if not terms:
        return None
    where = "body @@ phraseto_tsquery('simple', :q)"
    if not body_only:
        where = f"({where} OR headers @@ phraseto_tsquery('simple', :q))"
    return text(
        f"SELECT string_agg(uid::text, ',' ORDER BY uid) FROM message_fts WHERE mailbox_id = :mailbox AND {where}"
    ).bindparams(mailbox=mailbox_id, q=" ".join(terms))


def _pg_safe(value: str) -> str:
    # PostgreSQL text cannot hold NUL; tsvector input is capped at 1 MB per lexeme set.
    return value.replace("\x00", " ")[:900_000]
