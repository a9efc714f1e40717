"""Initial cdr schema: one row per call leg.

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
        "cdrs",
        sa.Column("id", ID, primary_key=True),
        sa.Column("call_id", sa.String(256), nullable=False),
        sa.Column("leg", sa.String(8), nullable=False),
        sa.Column("from_uri", sa.String(2048), nullable=False),
        sa.Column("to_uri", sa.String(2048), nullable=False),
        sa.Column("caller", sa.String(320), nullable=True),
        sa.Column("callee", sa.String(320), nullable=True),
        sa.Column("caller_domain", sa.String(253), nullable=True),
        sa.Column("callee_domain", sa.String(253), nullable=True),
        sa.Column("started_at", TZ, nullable=False),
        sa.Column("answered_at", TZ, nullable=True),
        sa.Column("ended_at", TZ, nullable=True),
        sa.Column("duration_ms", sa.BigInteger, nullable=False),
        sa.Column("billable_seconds", sa.Integer, nullable=False),
        sa.Column("result", sa.String(16), nullable=True),
        sa.Column("status", sa.Integer, nullable=True),
        sa.Column("ended_by", sa.String(16), nullable=False),
        sa.Column("disconnected_by", sa.String(16), nullable=False),
        sa.Column("media", sa.JSON, nullable=False),
        sa.Column("node", sa.String(255), nullable=False),
        sa.Column("filed", sa.Boolean, nullable=False),
        sa.Column("file_owner", sa.String(255), nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.UniqueConstraint("call_id", "leg", name="uq_cdrs_call_leg"),
    )
    op.create_index("ix_cdrs_started", "cdrs", ["started_at", "id"])
    op.create_index("ix_cdrs_caller", "cdrs", ["caller"])
    op.create_index("ix_cdrs_callee", "cdrs", ["callee"])
    op.create_index("ix_cdrs_caller_domain", "cdrs", ["caller_domain"])
    op.create_index("ix_cdrs_callee_domain", "cdrs", ["callee_domain"])
    op.create_index("ix_cdrs_unfiled", "cdrs", ["filed", "file_owner"])


def downgrade() -> None:
    op.drop_table("cdrs")
