"""The directory's hot read path: resolve and authenticate without the ORM.

Every `directory.rpc.*` request needs the same few facts (which domain,
which entry, which credentials). They come from `_queries.HotQueries` (plain
SQL on the driver) and are kept in this replica's read cache
(`_cache.DirectoryCache`, rules in docs/directory.md). The small table of
domains and domain aliases is held in memory whole, dropped whenever any
replica announces a domain change and after 30 seconds in any case.

Lookups are batched: a group's members, a forwarder's targets, all come
back from one query per domain, so expanding a group of twenty costs three
queries at most (the group, its members, their entries), not twenty.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from libs.contracts.directory import DirectoryChanged, ObjectKind
from services.directory._addresses import Address
from services.directory._cache import MISSING, DirectoryCache, Key
from services.directory._queries import DOMAIN_ALIASES, DOMAINS, HotQueries
from services.directory.models import AddressKind

DOMAIN_CACHE_SECONDS = 30.0
# Kinds whose events name one address; any other directory change forgets everything.
_ADDRESS_KINDS = frozenset({ObjectKind.ACCOUNT, ObjectKind.ALIAS, ObjectKind.FORWARDER, ObjectKind.GROUP})
# Kinds that never change what resolve and auth read.
_IGNORED_KINDS = frozenset({ObjectKind.ADMIN, ObjectKind.DKIM_KEY})
# The events a replica follows to keep its cache right.
CACHED_KINDS = tuple(kind for kind in ObjectKind if kind not in _IGNORED_KINDS)


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
    group_members: tuple[str, ...] | None = None

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


@dataclass(frozen=True)
class AccountRow:
    local: str
    real_name: str
    enabled: bool
    quota_bytes: int | None
    quota_messages: int | None
    settings: dict[str, Any]


Found = tuple[DomainRow | None, EntryRow | None]


class DirectoryReads:
    def __init__(self, queries: HotQueries, cache: DirectoryCache) -> None:
        self._queries = queries
        self._cache = cache
        self._domains: dict[str, DomainRow] | None = None
        self._loaded_at = 0.0

    # --- invalidation ------------------------------------------------------------------

    def forget_domains(self) -> None:
        self._domains = None

    def forget_all(self) -> None:
        self._domains = None
        self._cache.forget_all()

    def changed(self, event: DirectoryChanged) -> None:
        """Apply the cache rule for one committed change (ours, or another replica's event)."""
        if event.kind in _IGNORED_KINDS:
            return
        if event.kind in _ADDRESS_KINDS:
            self._cache.forget_address(event.name)
        else:  # a domain or domain alias: every cached row may name it
            self.forget_all()

    # --- domains -----------------------------------------------------------------------

    async def domain(self, name: str) -> DomainRow | None:
        """A domain by its name or one of its aliases (name already canonical)."""
        domains = self._domains
        if domains is None or time.monotonic() - self._loaded_at > DOMAIN_CACHE_SECONDS:
            domains = await self._load_domains()
        return domains.get(name)

    async def _load_domains(self) -> dict[str, DomainRow]:
        loaded_at = time.monotonic()
        rows = await self._queries.all(DOMAINS)
        domains = {name: DomainRow(id_, name, bool(enabled)) for id_, name, enabled in rows}
        by_id = {d.id: d for d in domains.values()}
        for name, domain_id in await self._queries.all(DOMAIN_ALIASES):
            if domain_id in by_id:
                domains[name] = by_id[domain_id]
        self._domains, self._loaded_at = domains, loaded_at
        return domains

    # --- entries (resolve) -------------------------------------------------------------

    async def entry(self, address: Address) -> Found:
        """The entry an address names; `alice+tag` falls back to `alice` (sub-addressing)."""
        return (await self.entries([address]))[0]

    async def entries(self, addresses: Sequence[Address]) -> list[Found]:
        """`entry()` for many addresses, with one query per domain for what is not cached."""
        generation = self._cache.generation
        domains = [await self.domain(a.domain) for a in addresses]
        known: dict[Key, EntryRow | None] = {}
        wanted: dict[DomainRow, list[str]] = {}
        for address, domain in zip(addresses, domains, strict=True):
            if domain is None:
                continue
            for local in _candidates(address):
                key = (domain.name, local)
                if key in known:
                    continue
                cached = self._cache.entries.get(key)
                if cached is MISSING:
                    wanted.setdefault(domain, []).append(local)
                    known[key] = None
                else:
                    known[key] = cached
        for domain, locals_ in wanted.items():
            for local, entry in (await self._fetch_entries(domain, locals_)).items():
                known[(domain.name, local)] = entry
                self._cache.store_entry((domain.name, local), entry, generation=generation)
        return [_pick(address, domain, known) for address, domain in zip(addresses, domains, strict=True)]

    async def _fetch_entries(self, domain: DomainRow, locals_: list[str]) -> dict[str, EntryRow | None]:
        rows = await self._queries.entries(domain.id, locals_)
        groups = [row[0] for row in rows if row[1] == AddressKind.GROUP]
        members: dict[int, list[str]] = {}
        if groups:
            for group_id, member in await self._queries.members(groups):
                members.setdefault(group_id, []).append(member)
        found: dict[str, EntryRow | None] = dict.fromkeys(locals_)
        for id_, kind, local, enabled, target, targets in rows:
            group = tuple(members.get(id_, ())) if kind == AddressKind.GROUP else None
            found[local] = EntryRow(
                id_, kind, local, domain, None if enabled is None else bool(enabled), target, _list(targets), group
            )
        return found

    # --- credentials (auth) ------------------------------------------------------------

    async def credentials(self, address: Address) -> Credentials | None:
        domain = await self.domain(address.domain)
        if domain is None:
            return None
        key = (domain.name, address.local)
        cached = self._cache.credentials.get(key)
        if cached is not MISSING:
            return cached  # type: ignore[no-any-return]
        generation = self._cache.generation
        row = await self._queries.credentials(domain.id, address.local)
        found = _credentials(row, domain) if row is not None else None
        self._cache.store_credentials(key, found, generation=generation)
        return found

    async def account(self, address: Address) -> tuple[DomainRow, AccountRow] | None:
        """The account_get view of an account (not cached: quotas and settings are read rarely)."""
        domain = await self.domain(address.domain)
        if domain is None:
            return None
        row = await self._queries.account(domain.id, address.local)
        if row is None:
            return None
        local, real_name, enabled, quota_bytes, quota_messages, settings = row
        return domain, AccountRow(local, real_name, bool(enabled), quota_bytes, quota_messages, _dict(settings))


def _candidates(address: Address) -> list[str]:
    base = address.without_subaddress()
    return [address.local, base.local] if base else [address.local]


def _pick(address: Address, domain: DomainRow | None, known: dict[Key, EntryRow | None]) -> Found:
    if domain is None:
        return None, None
    for local in _candidates(address):
        entry = known.get((domain.name, local))
        if entry is not None:
            return domain, entry
    return domain, None


def _credentials(row: Sequence[Any], domain: DomainRow) -> Credentials:
    local, enabled, password_hash, salt, iterations, stored_key, server_key, md5, sha256, md5_at, sha256_at = row
    return Credentials(
        local=local,
        domain=domain,
        enabled=bool(enabled),
        password_hash=password_hash,
        scram_salt=_bytes(salt),
        scram_iterations=iterations,
        scram_stored_key=_bytes(stored_key),
        scram_server_key=_bytes(server_key),
        ha1={("MD5", False): md5, ("SHA-256", False): sha256, ("MD5", True): md5_at, ("SHA-256", True): sha256_at},
    )


def _bytes(value: Any) -> bytes | None:
    return None if value is None else bytes(value)


def _list(value: Any) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):  # JSON comes back as text from both drivers
        return list(json.loads(value))
    return list(value)


def _dict(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        value = json.loads(value)
    return dict(value or {})
