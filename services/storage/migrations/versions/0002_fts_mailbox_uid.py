"""PostgreSQL: each full-text row also names its message's mailbox and UID.

A text search then reads the matching UIDs from the index table alone: for a
word in half of a 100,000-message mailbox, joining 50,000 matches back to the
messages table (a scan of its wide rows) was most of the search's time. A
message never changes mailbox or UID (a move makes a new message), so the
copies never go stale. SQLite's FTS5 table is left as it is.

The tsvectors are also moved out of the table's own rows (toast_tuple_target
at its minimum): a common word's matches are then read from about 1,300
pages of small rows per 100,000 messages instead of 7,600 pages of rows
carrying compressed tsvectors, and only a phrase's candidates fetch their
vectors. It applies to rows written from now on, including the ones the
UPDATE below rewrites (an UPDATE leaves dead rows: VACUUM reclaims them).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE message_fts SET (toast_tuple_target = 128)")
    op.execute("ALTER TABLE message_fts ADD COLUMN mailbox_id BIGINT, ADD COLUMN uid BIGINT")
    op.execute(
        "UPDATE message_fts SET mailbox_id = m.mailbox_id, uid = m.uid"
        " FROM messages m WHERE m.id = message_fts.message_id"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE message_fts DROP COLUMN mailbox_id, DROP COLUMN uid")
    op.execute("ALTER TABLE message_fts RESET (toast_tuple_target)")
