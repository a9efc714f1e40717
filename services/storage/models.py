"""The storage service's tables.

- `mailboxes` carries the allocators: `uidnext` and `highest_modseq` are
  bumped by an UPDATE inside the same transaction that writes the messages,
  so the row lock (PostgreSQL) or the single writer (SQLite) keeps UIDs and
  MODSEQs strictly ascending and never reused, whatever the number of
  storage replicas.
- `messages` keeps everything IMAP needs without re-reading the blob:
  flags, sizes, ENVELOPE and BODYSTRUCTURE (with part offsets), and the
  header fields used by SEARCH and SORT.
- `expunged` remembers what vanished at which MODSEQ (QRESYNC, RFC 7162).
- `blobs` counts references to each blob, for garbage collection.
- `usage` is each account's quota use, updated in the same transactions.
- `mailbox_acl` holds the rights (RFC 4314 letters) other identifiers have on
  a mailbox; the owner has every right without a row.
Full-text search lives in `message_fts` (an FTS5 table on SQLite, a
tsvector table on PostgreSQL), created by the migration.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from libs.db import UTCDateTime

# SQLite only aliases the rowid for INTEGER PRIMARY KEY; PostgreSQL wants 64 bits.
Id = BigInteger().with_variant(Integer, "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class Mailbox(Base):
    __tablename__ = "mailboxes"
    __table_args__ = (UniqueConstraint("account", "name", name="uq_mailboxes_account_name"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    account: Mapped[str] = mapped_column(String(320))
    name: Mapped[str] = mapped_column(String(1024))
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    uidnext: Mapped[int] = mapped_column(BigInteger, default=1)
    highest_modseq: Mapped[int] = mapped_column(BigInteger, default=1)
    special_use: Mapped[str | None] = mapped_column(String(16), nullable=True)
    subscribed: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StoredMessage(Base):
    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("mailbox_id", "uid", name="uq_messages_mailbox_uid"),
        Index("ix_messages_mailbox_modseq", "mailbox_id", "modseq"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    mailbox_id: Mapped[int] = mapped_column(ForeignKey("mailboxes.id", ondelete="CASCADE"))
    uid: Mapped[int] = mapped_column(BigInteger)
    modseq: Mapped[int] = mapped_column(BigInteger)
    blob: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    internal_date: Mapped[datetime] = mapped_column(UTCDateTime)
    seen: Mapped[bool] = mapped_column(Boolean, default=False)
    answered: Mapped[bool] = mapped_column(Boolean, default=False)
    flagged: Mapped[bool] = mapped_column(Boolean, default=False)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    draft: Mapped[bool] = mapped_column(Boolean, default=False)
    keywords: Mapped[str] = mapped_column(Text, default="")  # space-separated, as the client spelled them
    envelope: Mapped[dict[str, Any]] = mapped_column(JSON)
    structure: Mapped[dict[str, Any]] = mapped_column(JSON)
    subject: Mapped[str] = mapped_column(Text, default="")
    base_subject: Mapped[str] = mapped_column(Text, default="")
    from_text: Mapped[str] = mapped_column(Text, default="")
    to_text: Mapped[str] = mapped_column(Text, default="")
    cc_text: Mapped[str] = mapped_column(Text, default="")
    bcc_text: Mapped[str] = mapped_column(Text, default="")
    sent_date: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    message_id: Mapped[str] = mapped_column(Text, default="")
    in_reply_to: Mapped[str] = mapped_column(Text, default="")
    references: Mapped[str] = mapped_column(Text, default="")


class Expunged(Base):
    __tablename__ = "expunged"
    __table_args__ = (Index("ix_expunged_mailbox_modseq", "mailbox_id", "modseq"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    mailbox_id: Mapped[int] = mapped_column(ForeignKey("mailboxes.id", ondelete="CASCADE"))
    uid: Mapped[int] = mapped_column(BigInteger)
    modseq: Mapped[int] = mapped_column(BigInteger)


class Blob(Base):
    __tablename__ = "blobs"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    refs: Mapped[int] = mapped_column(BigInteger, default=0)
    zero_since: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Usage(Base):
    __tablename__ = "usage"

    account: Mapped[str] = mapped_column(String(320), primary_key=True)
    bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    messages: Mapped[int] = mapped_column(BigInteger, default=0)


class Meta(Base):
    """Server-wide counters shared by every replica (the last UIDVALIDITY handed out)."""

    __tablename__ = "meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)


class MailboxAcl(Base):
    """One access control entry: `identifier` (an account address or `anyone`) has `rights`."""

    __tablename__ = "mailbox_acl"
    __table_args__ = (Index("ix_mailbox_acl_identifier", "identifier"),)

    mailbox_id: Mapped[int] = mapped_column(ForeignKey("mailboxes.id", ondelete="CASCADE"), primary_key=True)
    identifier: Mapped[str] = mapped_column(String(320), primary_key=True)
    rights: Mapped[str] = mapped_column(String(32))
