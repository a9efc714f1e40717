"""FETCH metadata: pages of up to 10,000 messages' flags, envelopes, structures, ...

A page is answered with JSON built here rather than with `FetchReply`
models: the envelope and structure are stored as JSON and go out as the
text they are (no decoding per message only to encode again), and each
message becomes a plain dict (building and dumping thousands of models was
most of a large fetch's time). The reply is the JSON of `FetchReply`, and
front ends parse it as such.
"""

from __future__ import annotations

from typing import Any

import pydantic_core
from sqlalchemy import Text, cast, select

from libs.bus import Encoded
from libs.contracts import storage as contract
from services.storage._context import StorageContext
from services.storage._flags import CANONICAL, stored_keywords
from services.storage._mailboxes import get_mailbox
from services.storage._messages import uid_condition
from services.storage.models import StoredMessage

_ITEM_COLUMNS = {
    "flags": ("seen", "answered", "flagged", "deleted", "draft", "keywords"),
    "envelope": ("envelope",),
    "structure": ("structure",),
    "headers": (
        "subject", "base_subject", "from_text", "to_text", "cc_text", "bcc_text", "sent_date", "message_id",
        "in_reply_to", "references",
    ),
    "internal_date": ("internal_date",),
    "size": ("size",),
    "blob": ("blob",),
    "modseq": (),
}  # fmt: skip
_JSON_TEXT = ("envelope", "structure")
_PLAIN_ITEMS = ("envelope", "structure", "internal_date", "size", "blob")


async def fetch(ctx: StorageContext, request: contract.FetchRequest) -> Encoded:
    wanted = set(request.items)
    names = {"uid", "modseq"} | {c for item in wanted for c in _ITEM_COLUMNS[item]}
    columns = [_column(n) for n in sorted(names)]
    async with ctx.read() as session:
        mailbox = await get_mailbox(session, request.account, request.mailbox)
        query = select(*columns).where(StoredMessage.mailbox_id == mailbox.id, uid_condition(request.uids))
        if request.changed_since is not None:
            query = query.where(StoredMessage.modseq > request.changed_since)
        rows = (await session.execute(query.order_by(StoredMessage.uid).limit(request.limit + 1))).mappings().all()
    next_uid = rows[request.limit]["uid"] if len(rows) > request.limit else None
    items = [item for item in _PLAIN_ITEMS if item in wanted]
    reply = {
        "uidvalidity": mailbox.uidvalidity,
        "messages": [_message(row, wanted, items) for row in rows[: request.limit]],
        "next_uid": next_uid,
    }
    return Encoded(pydantic_core.to_json(reply))


def _column(name: str):  # type: ignore[no-untyped-def]
    column = getattr(StoredMessage, name)
    if name in _JSON_TEXT:
        # A CAST in SQL: PostgreSQL's driver would decode a json column by itself.
        return cast(column, Text).label(name)
    return column


def _message(row, wanted: set[str], items: list[str]) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """One `MessageMeta` as a dict (the values come from our own columns, of the right types)."""
    data: dict[str, Any] = {"uid": row["uid"], "modseq": row["modseq"]}
    if "flags" in wanted:
        data["flags"] = [CANONICAL[c] for c in CANONICAL if row[c]] + list(stored_keywords(row["keywords"]))
    for item in items:
        data[item] = row[item]
    if "headers" in wanted:
        data["headers"] = {c: row[c] for c in _ITEM_COLUMNS["headers"]}
    return data
