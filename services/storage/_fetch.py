"""FETCH metadata: pages of up to 10,000 messages' flags, envelopes, structures, ...

A page is answered with JSON built here rather than with `FetchReply`
models: the envelope and structure are stored as JSON and go out as the
text they are (no decoding per message only to encode again), and each
message becomes a plain dict (building and dumping thousands of models was
most of a large fetch's time). The reply is the JSON of `FetchReply`, and
front ends parse it as such.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any

import pydantic_core
from sqlalchemy import Integer, Text, cast, literal, select

from libs.bus import Encoded
from libs.contracts import storage as contract
from services.storage._context import StorageContext
from services.storage._flags import CANONICAL, stored_keywords
from services.storage._mailboxes import get_mailbox
from services.storage._messages import uid_condition
from services.storage.models import StoredMessage

_ITEM_COLUMNS = {
    "flags": ("flag_bits", "keywords"),
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
# The five system flags as one number (bit i: the i-th of CANONICAL): every column of
# every row is an object the driver makes, and a page has thousands of rows.
_FLAG_BITS = sum(
    (cast(getattr(StoredMessage, column), Integer) * (1 << bit) for bit, column in enumerate(CANONICAL)), literal(0)
).label("flag_bits")
_PLAIN_ITEMS = ("envelope", "structure", "internal_date", "size", "blob")


async def fetch(ctx: StorageContext, request: contract.FetchRequest) -> Encoded:
    wanted = set(request.items)
    names = sorted({"uid", "modseq"} | {c for item in wanted for c in _ITEM_COLUMNS[item]})
    async with ctx.read() as session:
        mailbox = await get_mailbox(session, request.account, request.mailbox)
        query = select(*map(_column, names)).where(StoredMessage.mailbox_id == mailbox.id, uid_condition(request.uids))
        if request.changed_since is not None:
            query = query.where(StoredMessage.modseq > request.changed_since)
        rows = (await session.execute(query.order_by(StoredMessage.uid).limit(request.limit + 1))).all()
    uid = names.index("uid")
    next_uid = rows[request.limit][uid] if len(rows) > request.limit else None
    build = _builder(names, wanted)
    reply = {"uidvalidity": mailbox.uidvalidity, "messages": [build(row) for row in rows[: request.limit]],
             "next_uid": next_uid}  # fmt: skip
    return Encoded(pydantic_core.to_json(reply))


def _column(name: str):  # type: ignore[no-untyped-def]
    if name == "flag_bits":
        return _FLAG_BITS
    column = getattr(StoredMessage, name)
    if name in _JSON_TEXT:
        # A CAST in SQL: PostgreSQL's driver would decode a json column by itself.
        return cast(column, Text).label(name)
    return column


def _builder(names: list[str], wanted: set[str]) -> Callable[[Sequence[Any]], dict[str, Any]]:
    """A function from one row (columns `names`) to one `MessageMeta` as a dict; positions are
    worked out once per request, as this runs for every message of the page."""
    at = {name: position for position, name in enumerate(names)}
    uid, modseq = at["uid"], at["modseq"]
    plain = [(item, at[item]) for item in _PLAIN_ITEMS if item in wanted]
    flag_columns = itemgetter(*(at[c] for c in _ITEM_COLUMNS["flags"])) if "flags" in wanted else None
    flag_lists: dict[tuple[Any, ...], list[str]] = {}  # few distinct combinations in a mailbox
    headers = [(column, at[column]) for column in _ITEM_COLUMNS["headers"]] if "headers" in wanted else None

    def build(row: Sequence[Any]) -> dict[str, Any]:
        data: dict[str, Any] = {"uid": row[uid], "modseq": row[modseq]}
        if flag_columns is not None:
            stored = flag_columns(row)
            flags = flag_lists.get(stored)
            if flags is None:
                flags = flag_lists[stored] = _flag_list(stored)
            data["flags"] = flags
        for item, position in plain:
            data[item] = row[position]
        if headers is not None:
            data["headers"] = {column: row[position] for column, position in headers}
        return data

    return build


def _flag_list(stored: tuple[int, str]) -> list[str]:
    """The flags of the "flags" columns (flag_bits, keywords)."""
    bits, keywords = stored
    system = [flag for bit, flag in enumerate(CANONICAL.values()) if bits & (1 << bit)]
    return system + list(stored_keywords(keywords))
