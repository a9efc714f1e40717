"""Initial storage schema: mailboxes, messages, expunge log, blob references, usage, full-text index.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)
ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "mailboxes",
        sa.Column("id", ID, primary_key=True),
        sa.Column("account", sa.String(320), nullable=False),
        sa.Column("name", sa.String(1024), nullable=False),
        sa.Column("uidvalidity", sa.BigInteger, nullable=False),
        sa.Column("uidnext", sa.BigInteger, nullable=False),
        sa.Column("highest_modseq", sa.BigInteger, nullable=False),
        sa.Column("special_use", sa.String(16), nullable=True),
        sa.Column("subscribed", sa.Boolean, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.UniqueConstraint("account", "name", name="uq_mailboxes_account_name"),
    )
    op.create_table(
        "messages",
        sa.Column("id", ID, primary_key=True),
        sa.Column("mailbox_id", ID, sa.ForeignKey("mailboxes.id", ondelete="CASCADE"), nullable=False),
        sa.Column("uid", sa.BigInteger, nullable=False),
        sa.Column("modseq", sa.BigInteger, nullable=False),
        sa.Column("blob", sa.String(64), nullable=False, index=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("internal_date", TZ, nullable=False),
        sa.Column("seen", sa.Boolean, nullable=False),
        sa.Column("answered", sa.Boolean, nullable=False),
        sa.Column("flagged", sa.Boolean, nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False),
        sa.Column("draft", sa.Boolean, nullable=False),
        sa.Column("keywords", sa.Text, nullable=False),
        sa.Column("envelope", sa.JSON, nullable=False),
        sa.Column("structure", sa.JSON, nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("base_subject", sa.Text, nullable=False),
        sa.Column("from_text", sa.Text, nullable=False),
        sa.Column("to_text", sa.Text, nullable=False),
        sa.Column("cc_text", sa.Text, nullable=False),
        sa.Column("bcc_text", sa.Text, nullable=False),
        sa.Column("sent_date", TZ, nullable=True),
        sa.Column("message_id", sa.Text, nullable=False),
        sa.Column("in_reply_to", sa.Text, nullable=False),
        sa.Column("references", sa.Text, nullable=False),
        sa.UniqueConstraint("mailbox_id", "uid", name="uq_messages_mailbox_uid"),
    )
    op.create_index("ix_messages_mailbox_modseq", "messages", ["mailbox_id", "modseq"])
    op.create_table(
        "expunged",
        sa.Column("id", ID, primary_key=True),
        sa.Column("mailbox_id", ID, sa.ForeignKey("mailboxes.id", ondelete="CASCADE"), nullable=False),
        sa.Column("uid", sa.BigInteger, nullable=False),
        sa.Column("modseq", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_expunged_mailbox_modseq", "expunged", ["mailbox_id", "modseq"])
    op.create_table(
        "blobs",
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("refs", sa.BigInteger, nullable=False),
        sa.Column("zero_since", TZ, nullable=True),
    )
    op.create_table(
        "usage",
        sa.Column("account", sa.String(320), primary_key=True),
        sa.Column("bytes", sa.BigInteger, nullable=False),
        sa.Column("messages", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.BigInteger, nullable=False),
    )
    if op.get_bind().dialect.name == "sqlite":
        # rowid = messages.id; rows are deleted explicitly with their message.
        op.execute(
            "CREATE VIRTUAL TABLE message_fts USING fts5(headers, body, tokenize = 'unicode61 remove_diacritics 2')"
        )
    else:
        op.execute(
            "CREATE TABLE message_fts ("
            " message_id BIGINT PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,"
            " headers TSVECTOR NOT NULL, body TSVECTOR NOT NULL)"
        )
        op.execute("CREATE INDEX ix_message_fts_headers ON message_fts USING GIN (headers)")
        op.execute("CREATE INDEX ix_message_fts_body ON message_fts USING GIN (body)")


def downgrade() -> None:
    op.execute("DROP TABLE message_fts")
    for table in ("meta", "usage", "blobs", "expunged", "messages", "mailboxes"):
        op.drop_table(table)
