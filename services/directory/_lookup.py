"""Read-side queries shared by resolution, authentication and the admin API."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from libs.contracts.errors import NotFound
from services.directory._addresses import Address
from services.directory.models import Account, AddressEntry, Domain, DomainAlias


async def find_domain(session: AsyncSession, name: str) -> Domain | None:
    """A domain by its own name or by one of its domain aliases (name already canonical)."""
    domain = await session.scalar(select(Domain).where(Domain.name == name))
    if domain is not None:
        return domain
    alias = await session.scalar(select(DomainAlias).where(DomainAlias.name == name))
    return alias.domain if alias is not None else None


async def get_domain_or_raise(session: AsyncSession, name: str) -> Domain:
    domain = await session.scalar(select(Domain).where(Domain.name == name))
    if domain is None:
        raise NotFound(f"no domain {name}")
    return domain


async def find_account(session: AsyncSession, address: Address) -> Account | None:
    domain = await find_domain(session, address.domain)
    if domain is None:
        return None
    return await session.scalar(
        select(Account)
        .join(AddressEntry, Account.address_id == AddressEntry.id)
        .where(AddressEntry.domain_id == domain.id, AddressEntry.local == address.local)
    )


def entry_address(entry: AddressEntry) -> str:
    """The canonical address of an entry, always in its primary domain."""
    return f"{entry.local}@{entry.domain.name}"
