"""The directory's tables.

Accounts, aliases, forwarders and groups share one name space per domain:
each is a row of `addresses` (unique on domain and local part) plus a row in
its own table. The database enforces that one name means one thing, and
resolution is one indexed lookup.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from libs.db import UTCDateTime


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class AddressKind:
    ACCOUNT = "account"
    ALIAS = "alias"
    FORWARDER = "forwarder"
    GROUP = "group"


class Domain(Base):
    __tablename__ = "domains"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(253), unique=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    aliases: Mapped[list[DomainAlias]] = relationship(
        back_populates="domain", cascade="all, delete-orphan", lazy="selectin", order_by="DomainAlias.name"
    )


class DomainAlias(Base):
    __tablename__ = "domain_aliases"

    name: Mapped[str] = mapped_column(String(253), primary_key=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("domains.id", ondelete="CASCADE"), index=True)

    domain: Mapped[Domain] = relationship(back_populates="aliases", lazy="joined")


class AddressEntry(Base):
    __tablename__ = "addresses"
    __table_args__ = (UniqueConstraint("domain_id", "local", name="uq_addresses_domain_local"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("domains.id", ondelete="CASCADE"))
    local: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    domain: Mapped[Domain] = relationship(lazy="joined")


class Account(Base):
    __tablename__ = "accounts"

    address_id: Mapped[int] = mapped_column(ForeignKey("addresses.id", ondelete="CASCADE"), primary_key=True)
    real_name: Mapped[str] = mapped_column(String(255), default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    quota_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    quota_messages: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    domain_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Credentials: never leave the directory (see libs/contracts/directory.py).
    password_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    scram_salt: Mapped[bytes | None] = mapped_column(LargeBinary(64), nullable=True)
    scram_iterations: Mapped[int | None] = mapped_column(Integer, nullable=True)
    scram_stored_key: Mapped[bytes | None] = mapped_column(LargeBinary(64), nullable=True)
    scram_server_key: Mapped[bytes | None] = mapped_column(LargeBinary(64), nullable=True)
    # SIP digest HA1, realm = domain; username either the local part or the whole address.
    ha1_md5: Mapped[str | None] = mapped_column(String(64), nullable=True)
    ha1_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    ha1_md5_address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    ha1_sha256_address: Mapped[str | None] = mapped_column(String(64), nullable=True)

    entry: Mapped[AddressEntry] = relationship(lazy="joined")


class Alias(Base):
    __tablename__ = "aliases"

    address_id: Mapped[int] = mapped_column(ForeignKey("addresses.id", ondelete="CASCADE"), primary_key=True)
    target: Mapped[str] = mapped_column(Text)

    entry: Mapped[AddressEntry] = relationship(lazy="joined")


class Forwarder(Base):
    __tablename__ = "forwarders"

    address_id: Mapped[int] = mapped_column(ForeignKey("addresses.id", ondelete="CASCADE"), primary_key=True)
    targets: Mapped[list[str]] = mapped_column(JSON, default=list)

    entry: Mapped[AddressEntry] = relationship(lazy="joined")


class Group(Base):
    __tablename__ = "groups"

    address_id: Mapped[int] = mapped_column(ForeignKey("addresses.id", ondelete="CASCADE"), primary_key=True)
    real_name: Mapped[str] = mapped_column(String(255), default="")

    entry: Mapped[AddressEntry] = relationship(lazy="joined")
    members: Mapped[list[GroupMember]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="GroupMember.member"
    )


class GroupMember(Base):
    __tablename__ = "group_members"

    group_id: Mapped[int] = mapped_column(ForeignKey("groups.address_id", ondelete="CASCADE"), primary_key=True)
    member: Mapped[str] = mapped_column(String(320), primary_key=True)


class Admin(Base):
    __tablename__ = "admins"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Meta(Base):
    """Small server-wide values shared by every replica (e.g. the secret for decoy SCRAM salts)."""

    __tablename__ = "meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class DkimKey(Base):
    """A domain's DKIM signing key (RFC 6376): the private half stays here, the public half goes to DNS.

    The signer uses the newest active key of the domain (`directory.rpc.dkim_key`).
    """

    __tablename__ = "dkim_keys"
    __table_args__ = (UniqueConstraint("domain_id", "selector", name="uq_dkim_keys_domain_selector"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("domains.id", ondelete="CASCADE"), index=True)
    selector: Mapped[str] = mapped_column(String(63))
    algorithm: Mapped[str] = mapped_column(String(32))  # rsa-sha256, ed25519-sha256
    private_key: Mapped[str] = mapped_column(Text)  # PKCS#8 PEM
    public_key: Mapped[str] = mapped_column(Text)  # base64, the p= of the DNS record
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    domain: Mapped[Domain] = relationship(lazy="joined")
