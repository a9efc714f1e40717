"""FETCH metadata: pages of up to 10,000 messages' flags, envelopes, structures, ...

The database writes each message's JSON (SQLite `json_object`, PostgreSQL
`json_build_object`) and storage only joins the rows' texts into the reply:
no Python object per column and message, no encoding here. The envelope and
structure are stored as JSON and go out as the text they are (JSON strings
in the reply); the flags list is put together from the five flag columns
and the space-separated keywords, which are atoms (no quote, backslash or
control character: `_flags.check_keyword`), so they need no escaping. The
reply is the JSON of `FetchReply`, and front ends parse it as such.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Text, case, cast, func, literal, select
from sqlalchemy.sql.elements import ColumnElement

from libs.bus import Encoded
from libs.contracts import storage as contract
from services.storage._context import StorageContext
from services.storage._flags import CANONICAL
from services.storage._mailboxes import get_mailbox
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
        mailbox = await get_mailbox(session, request.account, request.mailbox)
        document = message_json(session.bind.dialect.name, set(request.items))
        query = select(StoredMessage.uid, document).where(
            StoredMessage.mailbox_id == mailbox.id, uid_condition(request.uids)
        )
        if request.changed_since is not None:
            query = query.where(StoredMessage.modseq > request.changed_since)
        rows = (await session.execute(query.order_by(StoredMessage.uid).limit(request.limit + 1))).all()
    next_uid = rows[request.limit][0] if len(rows) > request.limit else None
    messages = ",".join([row[1] for row in rows[: request.limit]])
    reply = f'{{"uidvalidity":{mailbox.uidvalidity},"messages":[{messages}],"next_uid":{_number(next_uid)}}}'
    return Encoded(reply.encode())


def message_json(dialect: str, wanted: set[str]) -> ColumnElement[Any]:
    """One `MessageMeta` as JSON text, written by the database, with the `wanted` items."""
    pairs: list[tuple[str, ColumnElement[Any]]] = [("uid", StoredMessage.uid), ("modseq", StoredMessage.modseq)]
    if "flags" in wanted:
        pairs.append(("flags", _as_json(dialect, _flags_text())))
    for item in _JSON_TEXT_ITEMS:
        if item in wanted:
            # A string in the reply: the JSON text as stored (the CAST keeps PostgreSQL's json
            # column from being embedded as an object).
            pairs.append((item, cast(getattr(StoredMessage, item), Text)))
    if "internal_date" in wanted:
        pairs.append(("internal_date", _date(dialect, "internal_date")))
    for item in _PLAIN_ITEMS:
        if item in wanted:
            pairs.append((item, getattr(StoredMessage, item)))
    if "headers" in wanted:
        headers = [(name, _date(dialect, name) if name in _DATES else getattr(StoredMessage, name)) for name in _HEADERS]
        pairs.append(("headers", _object(dialect, headers)))
    document = _object(dialect, pairs)
    if dialect == "postgresql":
        document = cast(document, Text)  # asyncpg would decode a json value into dicts
    return document.label("document")


def _object(dialect: str, pairs: list[tuple[str, ColumnElement[Any]]]) -> ColumnElement[Any]:
    build = func.json_build_object if dialect == "postgresql" else func.json_object
    return build(*(part for name, value in pairs for part in (literal(name), value)), type_=Text)


def _as_json(dialect: str, text: ColumnElement[Any]) -> ColumnElement[Any]:
    """JSON text embedded as a value, not as a string."""
    return cast(text, JSON) if dialect == "postgresql" else func.json(text, type_=Text)


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
