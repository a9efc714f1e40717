"""Initial directory schema: domains, addresses (accounts, aliases, forwarders, groups), admins.

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


def upgrade() -> None:
    op.create_table(
        "domains",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(253), nullable=False, unique=True),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("settings", sa.JSON, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_table(
        "domain_aliases",
        sa.Column("name", sa.String(253), primary_key=True),
        sa.Column("domain_id", sa.Integer, sa.ForeignKey("domains.id", ondelete="CASCADE"), nullable=False, index=True),
    )
    op.create_table(
        "addresses",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("domain_id", sa.Integer, sa.ForeignKey("domains.id", ondelete="CASCADE"), nullable=False),
        sa.Column("local", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.UniqueConstraint("domain_id", "local", name="uq_addresses_domain_local"),
    )
    op.create_table(
        "accounts",
        sa.Column("address_id", sa.Integer, sa.ForeignKey("addresses.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("real_name", sa.String(255), nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("quota_bytes", sa.BigInteger, nullable=True),
        sa.Column("quota_messages", sa.BigInteger, nullable=True),
        sa.Column("domain_admin", sa.Boolean, nullable=False),
        sa.Column("settings", sa.JSON, nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=True),
        sa.Column("scram_salt", sa.LargeBinary(64), nullable=True),
        sa.Column("scram_iterations", sa.Integer, nullable=True),
        sa.Column("scram_stored_key", sa.LargeBinary(64), nullable=True),
        sa.Column("scram_server_key", sa.LargeBinary(64), nullable=True),
        sa.Column("ha1_md5", sa.String(64), nullable=True),
        sa.Column("ha1_sha256", sa.String(64), nullable=True),
        sa.Column("ha1_md5_address", sa.String(64), nullable=True),
        sa.Column("ha1_sha256_address", sa.String(64), nullable=True),
    )
    op.create_table(
        "aliases",
        sa.Column("address_id", sa.Integer, sa.ForeignKey("addresses.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("target", sa.Text, nullable=False),
    )
    op.create_table(
        "forwarders",
        sa.Column("address_id", sa.Integer, sa.ForeignKey("addresses.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("targets", sa.JSON, nullable=False),
    )
    op.create_table(
        "groups",
        sa.Column("address_id", sa.Integer, sa.ForeignKey("addresses.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("real_name", sa.String(255), nullable=False),
    )
    op.create_table(
        "group_members",
        sa.Column("group_id", sa.Integer, sa.ForeignKey("groups.address_id", ondelete="CASCADE"), primary_key=True),
        sa.Column("member", sa.String(320), primary_key=True),
    )
    op.create_table(
        "admins",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_table(
        "meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "meta",
        "admins",
        "group_members",
        "groups",
        "forwarders",
        "aliases",
        "accounts",
        "addresses",
        "domain_aliases",
        "domains",
    ):
        op.drop_table(table)
