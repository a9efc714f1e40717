"""Helpers shared by the admin API routers: parsing, scope checks, name claims."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from libs.contracts.directory import Action, DirectoryChanged, ObjectKind
from libs.contracts.errors import BadRequest, Conflict, NotFound
from libs.db.unit_of_work import Work
from services.directory._addresses import (
    Address,
    InvalidAddress,
    normalize_domain,
    parse_address,
)
from services.directory._lookup import find_domain, get_domain_or_raise
from services.directory.admin.principal import Principal
from services.directory.models import AddressEntry, Domain


def address_or_400(text: str) -> Address:
    try:
        return parse_address(text)
    except InvalidAddress as exc:
        raise BadRequest(f"invalid address {text[:80]!r}: {exc}") from None


def domain_name_or_400(text: str) -> str:
    try:
        return normalize_domain(text)
    except InvalidAddress as exc:
        raise BadRequest(str(exc)) from None


async def owning_domain(session: AsyncSession, principal: Principal, address: Address) -> Domain:
    """The (primary) domain of an address we are about to manage, scope-checked."""
    domain = await find_domain(session, address.domain)
    if domain is None:
        raise NotFound(f"{address.domain} is not one of our domains")
    principal.require_domain(domain.name)
    return domain


async def scoped_domain(session: AsyncSession, principal: Principal, name: str | None) -> Domain | None:
    """The domain a list is filtered by; domain administrators are pinned to theirs."""
    if name is None:
        if principal.is_server_admin:
            return None
        name = principal.domain
    domain = await get_domain_or_raise(session, domain_name_or_400(name))
    principal.require_domain(domain.name)
    return domain


async def claim_name(session: AsyncSession, domain: Domain, local: str, kind: str) -> AddressEntry:
    """Reserve `local@domain` for a new object; one name means one thing."""
    existing = await session.scalar(
        select(AddressEntry).where(AddressEntry.domain_id == domain.id, AddressEntry.local == local)
    )
    if existing is not None:
        raise Conflict(f"{local}@{domain.name} already exists (as {existing.kind})")
    entry = AddressEntry(domain_id=domain.id, local=local, kind=kind)
    entry.domain = domain
    session.add(entry)
    await session.flush()
    return entry


async def entry_of_kind(session: AsyncSession, principal: Principal, text: str, kind: str) -> AddressEntry:
    address = address_or_400(text)
    domain = await owning_domain(session, principal, address)
    entry = await session.scalar(
        select(AddressEntry).where(AddressEntry.domain_id == domain.id, AddressEntry.local == address.local)
    )
    if entry is None or entry.kind != kind:
        raise NotFound(f"no {kind} {address.local}@{domain.name}")
    return entry


def canonical_targets(targets: list[str]) -> list[str]:
    out: list[str] = []
    for target in targets:
        text = address_or_400(target).text
        if text not in out:
            out.append(text)
    return out


def merge_document(current: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """A settings document with `changes` applied; a change to null removes the key (RFC 7396 style)."""
    merged = dict(current)
    for key, value in changes.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def changed(work: Work, kind: ObjectKind, action: Action, name: str, domain: str = "") -> None:
    """Announce a directory change once the transaction commits."""
    work.publish(DirectoryChanged(kind=kind, action=action, name=name, domain=domain))
