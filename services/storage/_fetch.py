"""FETCH metadata: pages of up to 10,000 messages' flags, envelopes, structures, ...

The reply (`FetchReply`) is columns, one JSON array per item, and the
database writes them (SQLite `json_group_array`, PostgreSQL `json_agg`):
storage reads one row of a few strings and joins them into the reply, with
no Python object per message and column and no encoding here. The envelope
and structure are stored as JSON and go out as the text they are (strings in
the arrays); the flags list is put together in SQL from the five flag
columns and the space-separated keywords, which are atoms (no quote,
backslash or control character: `_flags.check_keyword`), so they need no
escaping.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pydantic_core
from sqlalchemy import JSON, Text, case, cast, func, literal, select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.sql.elements import ColumnElement

from libs.bus import Encoded
from libs.contracts import storage as contract
from services.storage._context import StorageContext
from services.storage._flags import CANONICAL
from services.storage._mailboxes import mailbox_for
from services.storage._messages import uid_condition
from services.storage.models import StoredMessage

_HEADERS = (
    "subject", "base_subject", "from_text", "to_text", "cc_text", "bcc_text", "sent_date", "message_id",
    "in_reply_to", "references",
)  # fmt: skip
_PLAIN_ITEMS = ("size", "blob")
_JSON_TEXT_ITEMS = ("envelope", "structure")
_DATES = ("internal_date", "sent_date")


async def fetch(ctx: StorageContext, request: contract.FetchRequest) -> Encoded:
    async with ctx.read() as session:
        mailbox = await mailbox_for(session, request.account, request.mailbox, request.actor, "r")
        dialect = session.bind.dialect.name
        matching = [StoredMessage.mailbox_id == mailbox.id, uid_condition(request.uids)]
        if request.changed_since is not None:
            matching.append(StoredMessage.modseq > request.changed_since)
        page = (
            select(*(value.label(name) for name, value in _columns(dialect, set(request.items))))
            .where(*matching)
            .order_by(StoredMessage.uid)
            .limit(request.limit)
            .subquery()
        )
        # The first UID past the page comes in the same statement: one round trip, not two.
        past_page = (
            select(StoredMessage.uid).where(*matching).order_by(StoredMessage.uid).offset(request.limit).limit(1)
        ).scalar_subquery()
        *columns, next_uid = (await session.execute(select(*_aggregates(dialect, page), past_page))).one()
    names = [column.name for column in page.columns]
    if dialect != "postgresql":
        columns = _in_uid_order(names, columns)
    body = ",".join(f'"{name}":{text}' for name, text in zip(names, columns, strict=True))
    reply = f'{{"schema_version":2,"uidvalidity":{mailbox.uidvalidity},"next_uid":{_number(next_uid)},{body}}}'
    return Encoded(reply.encode())


def _columns(dialect: str, wanted: set[str]) -> list[tuple[str, ColumnElement[Any]]]:
    """The `FetchReply` columns asked for, one value per message: (name, SQL expression)."""
    columns: list[tuple[str, ColumnElement[Any]]] = [("uid", StoredMessage.uid), ("modseq", StoredMessage.modseq)]
    if "flags" in wanted:
        columns.append(("flags", _flags_text()))
    if "internal_date" in wanted:
        columns.append(("internal_date", _date(dialect, "internal_date")))
    for item in _PLAIN_ITEMS:
        if item in wanted:
            columns.append((item, getattr(StoredMessage, item)))
    for item in _JSON_TEXT_ITEMS:
        if item in wanted:
            # A string in the reply: the JSON text as stored (the CAST keeps PostgreSQL's json
            # column from being embedded as an object).
            columns.append((item, cast(getattr(StoredMessage, item), Text)))
    if "headers" in wanted:
        headers = [(name, _date(dialect, name) if name in _DATES else getattr(StoredMessage, name))
                   for name in _HEADERS]  # fmt: skip
        columns.append(("headers", _object(dialect, headers)))
    return columns


_EMBEDDED = ("flags", "headers")  # JSON text the arrays hold as values, not as strings


def _aggregates(dialect: str, page: Any) -> list[ColumnElement[Any]]:
    """Each column of the page as one JSON array text, in UID order."""
    arrays = []
    for column in page.columns:
        if dialect == "postgresql":
            value = cast(column, JSON) if column.name == "flags" else column
            array = func.json_agg(aggregate_order_by(value, page.c.uid))
            array = func.coalesce(cast(array, Text), "[]")  # json_agg of no rows is NULL
        else:
            value = func.json(column) if column.name in _EMBEDDED else column
            array = func.json_group_array(value, type_=Text)
        arrays.append(array.label(column.name))
    return arrays


def _in_uid_order(names: list[str], columns: Sequence[str]) -> Sequence[str]:
    """SQLite (before 3.44) has no ORDER BY inside an aggregate; it feeds `json_group_array` the
    ordered subquery's rows in their order, which is checked here rather than assumed."""
    uids = pydantic_core.from_json(columns[names.index("uid")])
    if all(a < b for a, b in zip(uids, uids[1:], strict=False)):
        return columns
    order = sorted(range(len(uids)), key=uids.__getitem__)
    return [pydantic_core.to_json([values[i] for i in order]).decode()
            for values in map(pydantic_core.from_json, columns)]  # fmt: skip


def _object(dialect: str, pairs: list[tuple[str, ColumnElement[Any]]]) -> ColumnElement[Any]:
    build = func.json_build_object if dialect == "postgresql" else func.json_object
    return build(*(part for name, value in pairs for part in (literal(name), value)), type_=Text)


def _flags_text() -> ColumnElement[Any]:
    """The flags as a JSON array: the system flags set, in CANONICAL order, then the keywords."""
    parts: ColumnElement[Any] = literal("")
    for column, flag in CANONICAL.items():
        parts = parts + case((getattr(StoredMessage, column), literal(f'"\\{flag}",')), else_=literal(""))
    keywords = StoredMessage.keywords
    parts = parts + case(
        (keywords != "", literal('"') + func.replace(keywords, " ", '","') + literal('",')), else_=literal("")
    )
    return literal("[") + func.rtrim(parts, ",") + literal("]")


def _date(dialect: str, name: str) -> ColumnElement[Any]:
    column = getattr(StoredMessage, name)
    if dialect == "postgresql":
        return column  # json_build_object writes a timestamptz in ISO 8601 with its offset
    # SQLite keeps "YYYY-MM-DD HH:MM:SS.ffffff" in UTC (libs.db.UTCDateTime); NULL stays NULL.
    return func.replace(cast(column, Text), " ", "T") + literal("Z")


def _number(value: int | None) -> str:
    return "null" if value is None else str(value)
