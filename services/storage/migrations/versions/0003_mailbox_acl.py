"""Access control lists (RFC 4314): the rights other accounts (or `anyone`) have on a mailbox.

The owner's rights are implicit (all of them) and never stored. The index on
`identifier` serves the "shared with me" listing, which looks rows up by the
viewer rather than by mailbox.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "mailbox_acl",
        sa.Column("mailbox_id", ID, sa.ForeignKey("mailboxes.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("identifier", sa.String(320), primary_key=True),
        sa.Column("rights", sa.String(32), nullable=False),
    )
    op.create_index("ix_mailbox_acl_identifier", "mailbox_acl", ["identifier"])


def downgrade() -> None:
    op.drop_index("ix_mailbox_acl_identifier", table_name="mailbox_acl")
    op.drop_table("mailbox_acl")
