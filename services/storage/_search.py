"""IMAP SEARCH (RFC 9051 section 6.4.4) as one SQL query over stored metadata.

Flags, dates, sizes, UIDs and MODSEQ are columns; FROM/TO/CC/BCC/SUBJECT are
case-insensitive substring matches on the decoded header fields; BODY and
TEXT (and HEADER fields without a column of their own) go through the
database's full-text index (_fts.py). Dates compare by day in UTC.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import ColumnElement, Select, Text, and_, cast, func, literal, literal_column, not_, or_, select, true
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.sql import Executable

from libs.bus import Encoded
from libs.contracts import storage as contract
from libs.contracts.errors import BadRequest
from services.storage._context import StorageContext
from services.storage._fts import joined_text_uids, match_clause
from services.storage._mailboxes import mailbox_for
from services.storage._messages import uid_condition
from services.storage.models import StoredMessage as M

MAX_DEPTH = 64
_FLAG_KEYS = {
    "seen": (M.seen, True), "unseen": (M.seen, False), "answered": (M.answered, True),
    "unanswered": (M.answered, False), "flagged": (M.flagged, True), "unflagged": (M.flagged, False),
    "deleted": (M.deleted, True), "undeleted": (M.deleted, False), "draft": (M.draft, True),
    "undraft": (M.draft, False),
}  # fmt: skip
_ADDRESS_KEYS = {"from": M.from_text, "to": M.to_text, "cc": M.cc_text, "bcc": M.bcc_text, "subject": M.subject}
_HEADER_COLUMNS = {
    "subject": M.subject, "from": M.from_text, "to": M.to_text, "cc": M.cc_text, "bcc": M.bcc_text,
    "message-id": M.message_id, "in-reply-to": M.in_reply_to, "references": M.references,
}  # fmt: skip


def _contains(column, value: str) -> ColumnElement[bool]:  # type: ignore[no-untyped-def]
    escaped = value.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return func.lower(column).like(f"%{escaped}%", escape="\\")


def _day(value: object) -> datetime:
    try:
        day = value if isinstance(value, date) else date.fromisoformat(str(value))
    except ValueError:
        raise BadRequest(f"invalid date {str(value)[:40]!r} (want YYYY-MM-DD)") from None
    return datetime.combine(day, time.min, tzinfo=UTC)


def _number(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise BadRequest(f"search key needs a non-negative number, got {str(value)[:40]!r}")
    return value


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise BadRequest("search key needs a string")
    return value


def condition(key: contract.SearchKey, dialect: str, depth: int = 0) -> ColumnElement[bool]:
    if depth > MAX_DEPTH:
        raise BadRequest(f"search criteria nested deeper than {MAX_DEPTH}")
    op = key.op
    if op == "all":
        return true()
    if op in ("and", "or"):
        parts = [condition(k, dialect, depth + 1) for k in key.keys]
        if op == "or" and len(parts) < 1:
            raise BadRequest("OR needs search keys")
        return (and_ if op == "and" else or_)(true() if not parts else parts[0], *parts[1:])
    if op == "not":
        if len(key.keys) != 1:
            raise BadRequest("NOT takes exactly one search key")
        return not_(condition(key.keys[0], dialect, depth + 1))
    if op in _FLAG_KEYS:
        column, wanted = _FLAG_KEYS[op]
        return column.is_(wanted)
    if op in ("keyword", "unkeyword"):
        word = _text(key.value).lower()
        padded = literal(" ") + func.lower(M.keywords) + literal(" ")
        found = padded.like(f"% {word.replace('%', '').replace('_', '')} %")
        return found if op == "keyword" else not_(found)
    if op in ("before", "on", "since", "sentbefore", "senton", "sentsince"):
        return _date_condition(op, _day(key.value))
    if op == "larger":
        return M.size > _number(key.value)
    if op == "smaller":
        return M.size < _number(key.value)
    if op == "uid":
        return uid_condition(key.uids or [])
    if op == "modseq":
        return M.modseq >= _number(key.value)
    if op in _ADDRESS_KEYS:
        return _contains(_ADDRESS_KEYS[op], _text(key.value))
    if op == "header":
        return _header_condition((key.field or "").lower(), _text(key.value), dialect)
    if op in ("body", "text"):
        match = match_clause(dialect, _text(key.value), body_only=op == "body")
        return true() if match is None else match
    raise BadRequest(f"unknown search key {op}")


def _date_condition(op: str, day: datetime) -> ColumnElement[bool]:
    column = M.internal_date if not op.startswith("sent") else M.sent_date
    kind = op.removeprefix("sent")
    next_day = day + timedelta(days=1)
    if kind == "before":
        return column < day
    if kind == "since":
        return column >= day
    return and_(column >= day, column < next_day)


def _header_condition(field: str, value: str, dialect: str) -> ColumnElement[bool]:
    if not field:
        raise BadRequest("HEADER needs a field name")
    if field in _HEADER_COLUMNS:
        column = _HEADER_COLUMNS[field]
        return _contains(column, value) if value else column != ""
    match = match_clause(dialect, f"{field} {value}", body_only=False)
    return true() if match is None else match


async def search(ctx: StorageContext, request: contract.SearchRequest) -> Encoded:
    """The matching UIDs, ascending, as the JSON of `SearchReply`.

    The database joins them into one string (a word in half of a 100,000-message
    mailbox is 50,000 UIDs: as rows, turning them into Python objects and back
    cost more than finding them). The highest MODSEQ among the matches costs a
    read of every matching row, so it is worked out only when the criteria hold
    a MODSEQ key, the one case where IMAP reports it (RFC 7162 section 3.1.5).
    """
    async with ctx.read() as session:
        dialect = session.bind.dialect.name
        mailbox = await mailbox_for(session, request.account, request.mailbox, request.actor, "r")
        query = _text_only(dialect, mailbox.id, request.criteria)
        if query is None:
            where = and_(M.mailbox_id == mailbox.id, condition(request.criteria, dialect))
            query = _joined_uids(dialect, where)
            if _mentions_modseq(request.criteria):
                query = query.add_columns(select(func.max(M.modseq)).where(where).scalar_subquery())
        row = (await session.execute(query)).one()
    highest = row[1] if len(row) > 1 else None
    return Encoded(b'{"uids":[%s],"highest_modseq":%s}' % ((row[0] or "").encode(), _json_int(highest)))


def _text_only(dialect: str, mailbox_id: int, key: contract.SearchKey) -> Executable | None:
    """The common SEARCH TEXT/BODY alone, answered from PostgreSQL's index table (_fts.py)."""
    if dialect != "postgresql" or key.op not in ("text", "body"):
        return None
    return joined_text_uids(mailbox_id, _text(key.value), body_only=key.op == "body")


def _joined_uids(dialect: str, where: ColumnElement[bool]) -> Select[tuple[str | None]]:
    """One row: the UIDs matching `where`, ascending, as one comma-separated string (NULL for none)."""
    if dialect == "postgresql":
        return select(func.string_agg(cast(M.uid, Text), aggregate_order_by(literal_column("','"), M.uid))).where(where)
    # SQLite (3.40) has no ORDER BY inside an aggregate; group_concat takes the rows in the
    # order the subquery yields them, which its ORDER BY (on the mailbox, uid index) sets.
    ordered = select(M.uid).where(where).order_by(M.uid).subquery()
    return select(func.group_concat(ordered.c.uid))


def _json_int(value: int | None) -> bytes:
    return b"null" if value is None else str(int(value)).encode()


def _mentions_modseq(key: contract.SearchKey) -> bool:
    return key.op == "modseq" or any(_mentions_modseq(k) for k in key.keys)
