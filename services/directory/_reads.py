"""The directory's hot read path: resolve and authenticate without the ORM.

Every `directory.rpc.*` request needs the same few facts (which domain,
which entry, which credentials), so they are fetched with one Core
statement each through `libs.db.reader.Reader`, and the small table of
domains and domain aliases is kept in memory. The domain cache is dropped
whenever any replica announces a domain change (`directory.domain.*`,
`directory.domain_alias.*`) and also expires on its own, in case an event
was missed.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select

from libs.db.reader import Reader
from services.directory._addresses import Address
from services.directory.models import Account, AddressEntry, Alias, Domain, DomainAlias, Forwarder, GroupMember

DOMAIN_CACHE_SECONDS = 30.0
_CREDENTIAL_COLUMNS = (
    Account.enabled,
    Account.password_hash,
    Account.scram_salt,
    Account.scram_iterations,
    Account.scram_stored_key,
    Account.scram_server_key,
    Account.ha1_md5,
    Account.ha1_sha256,
    Account.ha1_md5_address,
    Account.ha1_sha256_address,
)


@dataclass(frozen=True)
class DomainRow:
    id: int
    name: str  # the primary (canonical) name
    enabled: bool


@dataclass(frozen=True)
class EntryRow:
    id: int
    kind: str
    local: str
    domain: DomainRow
    account_enabled: bool | None
    alias_target: str | None
    forwarder_targets: list[str] | None

    @property
    def address(self) -> str:
        return f"{self.local}@{self.domain.name}"


@dataclass(frozen=True)
class Credentials:
    local: str
    domain: DomainRow
    enabled: bool
    password_hash: str | None
    scram_salt: bytes | None
    scram_iterations: int | None
    scram_stored_key: bytes | None
    scram_server_key: bytes | None
    ha1: dict[tuple[str, bool], str | None]  # (algorithm, username is the whole address) -> HA1

    @property
    def address(self) -> str:
        return f"{self.local}@{self.domain.name}"


# Built once: each request only binds values (SQLAlchemy caches the compiled form).
_ENTRY = (
    select(AddressEntry.id, AddressEntry.kind, AddressEntry.local, Account.enabled, Alias.target, Forwarder.targets)
    .outerjoin(Account, Account.address_id == AddressEntry.id)
    .outerjoin(Alias, Alias.address_id == AddressEntry.id)
    .outerjoin(Forwarder, Forwarder.address_id == AddressEntry.id)
    .where(
        AddressEntry.domain_id == bindparam("domain_id"), AddressEntry.local.in_(bindparam("locals", expanding=True))
    )
)
_MEMBERS = select(GroupMember.member).where(GroupMember.group_id == bindparam("group_id")).order_by(GroupMember.member)
_BY_LOCAL = (AddressEntry.domain_id == bindparam("domain_id"), AddressEntry.local == bindparam("local"))
_CREDENTIALS = (
    select(AddressEntry.local, *_CREDENTIAL_COLUMNS)
    .join(Account, Account.address_id == AddressEntry.id)
    .where(*_BY_LOCAL)
)
_ACCOUNT = (
    select(
        AddressEntry.local,
        Account.real_name,
        Account.enabled,
        Account.quota_bytes,
        Account.quota_messages,
        Account.settings,
    )
    .join(Account, Account.address_id == AddressEntry.id)
    .where(*_BY_LOCAL)
)


class DirectoryReads:
    def __init__(self, reader: Reader) -> None:
        self._reader = reader
        self._domains: dict[str, DomainRow] | None = None
        self._loaded_at = 0.0

    def forget_domains(self) -> None:
        self._domains = None

    async def domain(self, name: str) -> DomainRow | None:
        """A domain by its name or one of its aliases (name already canonical)."""
        if self._domains is None or time.monotonic() - self._loaded_at > DOMAIN_CACHE_SECONDS:
            await self._load_domains()
        assert self._domains is not None
        return self._domains.get(name)

    async def _load_domains(self) -> None:
        rows = await self._reader.all(select(Domain.id, Domain.name, Domain.enabled))
        domains = {r.name: DomainRow(r.id, r.name, bool(r.enabled)) for r in rows}
        by_id = {d.id: d for d in domains.values()}
        for alias in await self._reader.all(select(DomainAlias.name, DomainAlias.domain_id)):
            if alias.domain_id in by_id:
                domains[alias.name] = by_id[alias.domain_id]
        self._domains = domains
        self._loaded_at = time.monotonic()

    async def entry(self, address: Address) -> tuple[DomainRow | None, EntryRow | None]:
        """The entry an address names; `alice+tag` falls back to `alice` (sub-addressing)."""
        domain = await self.domain(address.domain)
        if domain is None:
            return None, None
        base = address.without_subaddress()
        locals_ = [address.local] + ([base.local] if base else [])
        rows = await self._reader.all(_ENTRY, {"domain_id": domain.id, "locals": locals_})
        by_local = {r.local: r for r in rows}
        row = by_local.get(address.local) or (by_local.get(base.local) if base else None)
        if row is None:
            return domain, None
        return domain, EntryRow(row.id, row.kind, row.local, domain, row.enabled, row.target, _targets(row.targets))

    async def group_members(self, group_id: int) -> list[str]:
        rows = await self._reader.all(_MEMBERS, {"group_id": group_id})
        return [r.member for r in rows]

    async def credentials(self, address: Address) -> Credentials | None:
        domain = await self.domain(address.domain)
        if domain is None:
            return None
        row = await self._reader.first(_CREDENTIALS, {"domain_id": domain.id, "local": address.local})
        if row is None:
            return None
        return Credentials(
            local=row.local,
            domain=domain,
            enabled=bool(row.enabled),
            password_hash=row.password_hash,
            scram_salt=row.scram_salt,
            scram_iterations=row.scram_iterations,
            scram_stored_key=row.scram_stored_key,
            scram_server_key=row.scram_server_key,
            ha1={
                ("MD5", False): row.ha1_md5,
                ("SHA-256", False): row.ha1_sha256,
                ("MD5", True): row.ha1_md5_address,
                ("SHA-256", True): row.ha1_sha256_address,
            },
        )

    async def account(self, address: Address) -> tuple[DomainRow, Any, str] | None:
        """(domain, account columns, local part) for account_get."""
        domain = await self.domain(address.domain)
        if domain is None:
            return None
        row = await self._reader.first(_ACCOUNT, {"domain_id": domain.id, "local": address.local})
        return (domain, row, row.local) if row is not None else None


def _targets(value: Any) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):  # a driver that hands JSON back as text
        return list(json.loads(value))
    return list(value)
