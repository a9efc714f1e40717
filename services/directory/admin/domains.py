"""/domains: create, list, show, change, delete domains and their domain aliases."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from sqlalchemy import func, select

from libs.contracts.directory import Action, ObjectKind
from libs.contracts.errors import Conflict, NotFound
from services.directory._lookup import find_domain, get_domain_or_raise
from services.directory.admin._common import changed, domain_name_or_400, merge_document
from services.directory.admin.context import AdminContext, context, principal
from services.directory.admin.principal import Principal
from services.directory.admin.schemas import (
    DomainAliasCreate,
    DomainCreate,
    DomainOut,
    DomainUpdate,
)
from services.directory.models import AddressEntry, Domain, DomainAlias

router = APIRouter(prefix="/domains", tags=["domains"])


def domain_out(domain: Domain) -> DomainOut:
    return DomainOut(
        name=domain.name,
        aliases=[a.name for a in domain.aliases],
        enabled=domain.enabled,
        settings=domain.settings or {},
        created_at=domain.created_at,
    )


async def _ensure_domain_name_free(session, name: str) -> None:  # type: ignore[no-untyped-def]
    if await find_domain(session, name) is not None:
        raise Conflict(f"{name} is already a domain or a domain alias")


@router.get("", response_model=list[DomainOut])
async def list_domains(ctx: AdminContext = Depends(context), who: Principal = Depends(principal)) -> list[DomainOut]:
    async with ctx.uow() as work:
        query = select(Domain).order_by(Domain.name)
        if not who.is_server_admin:
            query = query.where(Domain.name == who.domain)
        return [domain_out(d) for d in await work.session.scalars(query)]


@router.post("", response_model=DomainOut, status_code=201)
async def create_domain(
    body: DomainCreate, ctx: AdminContext = Depends(context), who: Principal = Depends(principal)
) -> DomainOut:
    who.require_server_admin()
    name = domain_name_or_400(body.name)
    aliases = list(dict.fromkeys(domain_name_or_400(a) for a in body.aliases))
    async with ctx.uow() as work:
        for candidate in (name, *aliases):
            await _ensure_domain_name_free(work.session, candidate)
        domain = Domain(name=name, enabled=body.enabled, settings=body.settings)
        domain.aliases = [DomainAlias(name=a) for a in aliases if a != name]
        work.session.add(domain)
        await work.session.flush()
        changed(work, ObjectKind.DOMAIN, Action.CREATED, name, name)
        return domain_out(domain)


@router.get("/{name}", response_model=DomainOut)
async def show_domain(
    name: str, ctx: AdminContext = Depends(context), who: Principal = Depends(principal)
) -> DomainOut:
    async with ctx.uow() as work:
        domain = await get_domain_or_raise(work.session, domain_name_or_400(name))
        who.require_domain(domain.name)
        return domain_out(domain)


@router.patch("/{name}", response_model=DomainOut)
async def update_domain(
    name: str, body: DomainUpdate, ctx: AdminContext = Depends(context), who: Principal = Depends(principal)
) -> DomainOut:
    async with ctx.uow() as work:
        domain = await get_domain_or_raise(work.session, domain_name_or_400(name))
        who.require_domain(domain.name)
        if body.enabled is not None:
            who.require_server_admin()
            domain.enabled = body.enabled
        if body.settings is not None:
            domain.settings = merge_document(domain.settings or {}, body.settings)
        changed(work, ObjectKind.DOMAIN, Action.CHANGED, domain.name, domain.name)
        return domain_out(domain)


@router.delete("/{name}", status_code=204)
async def delete_domain(
    name: str, force: bool = False, ctx: AdminContext = Depends(context), who: Principal = Depends(principal)
) -> Response:
    who.require_server_admin()
    async with ctx.uow() as work:
        domain = await get_domain_or_raise(work.session, domain_name_or_400(name))
        count = await work.session.scalar(
            select(func.count()).select_from(AddressEntry).where(AddressEntry.domain_id == domain.id)
        )
        if count and not force:
            raise Conflict(f"{domain.name} still has {count} addresses; delete them first or use force")
        await work.session.delete(domain)
        changed(work, ObjectKind.DOMAIN, Action.DELETED, domain.name, domain.name)
    ctx.admin_auth.forget()
    return Response(status_code=204)


@router.post("/{name}/aliases", response_model=DomainOut, status_code=201)
async def add_domain_alias(
    name: str, body: DomainAliasCreate, ctx: AdminContext = Depends(context), who: Principal = Depends(principal)
) -> DomainOut:
    who.require_server_admin()
    alias = domain_name_or_400(body.name)
    async with ctx.uow() as work:
        domain = await get_domain_or_raise(work.session, domain_name_or_400(name))
        await _ensure_domain_name_free(work.session, alias)
        domain.aliases.append(DomainAlias(name=alias))
        await work.session.flush()
        changed(work, ObjectKind.DOMAIN_ALIAS, Action.CREATED, alias, domain.name)
        return domain_out(domain)


@router.delete("/{name}/aliases/{alias}", status_code=204)
async def remove_domain_alias(
    name: str, alias: str, ctx: AdminContext = Depends(context), who: Principal = Depends(principal)
) -> Response:
    who.require_server_admin()
    alias_name = domain_name_or_400(alias)
    async with ctx.uow() as work:
        domain = await get_domain_or_raise(work.session, domain_name_or_400(name))
        row = next((a for a in domain.aliases if a.name == alias_name), None)
        if row is None:
            raise NotFound(f"{alias_name} is not an alias of {domain.name}")
        domain.aliases.remove(row)
        changed(work, ObjectKind.DOMAIN_ALIAS, Action.DELETED, alias_name, domain.name)
    return Response(status_code=204)
