"""/aliases, /forwarders and /groups: addresses that lead somewhere else.

- an alias is one more name for one local address;
- a forwarder sends on to any addresses, local or remote;
- a group delivers to every member.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from sqlalchemy import select

from libs.contracts.directory import Action, ObjectKind
from libs.contracts.errors import BadRequest, Conflict, NotFound
from services.directory._lookup import entry_address, find_domain
from services.directory.admin._common import (
    address_or_400,
    canonical_targets,
    changed,
    claim_name,
    entry_of_kind,
    owning_domain,
    scoped_domain,
)
from services.directory.admin.context import AdminContext, context, principal
from services.directory.admin.principal import Principal
from services.directory.admin.schemas import (
    AliasCreate,
    AliasOut,
    AliasUpdate,
    ForwarderCreate,
    ForwarderOut,
    ForwarderUpdate,
    GroupCreate,
    GroupOut,
    GroupUpdate,
    MemberAdd,
)
from services.directory.models import (
    AddressEntry,
    AddressKind,
    Alias,
    Forwarder,
    Group,
    GroupMember,
)

router = APIRouter(tags=["aliases, forwarders, groups"])


async def _listed(work, who: Principal, domain: str | None, model):  # type: ignore[no-untyped-def]
    scope = await scoped_domain(work.session, who, domain)
    query = select(model).join(AddressEntry, model.address_id == AddressEntry.id)
    if scope is not None:
        query = query.where(AddressEntry.domain_id == scope.id)
    return list(await work.session.scalars(query.order_by(AddressEntry.domain_id, AddressEntry.local)))


async def _delete_entry(
    ctx: AdminContext, who: Principal, address: str, kind: str, object_kind: ObjectKind
) -> Response:
    async with ctx.uow() as work:
        entry = await entry_of_kind(work.session, who, address, kind)
        name, domain = entry_address(entry), entry.domain.name
        await work.session.delete(entry)
        changed(work, object_kind, Action.DELETED, name, domain)
    return Response(status_code=204)


# --- aliases ----------------------------------------------------------------------------


def alias_out(alias: Alias) -> AliasOut:
    return AliasOut(address=entry_address(alias.entry), domain=alias.entry.domain.name, target=alias.target)


@router.get("/aliases", response_model=list[AliasOut])
async def list_aliases(
    domain: str | None = None, ctx: AdminContext = Depends(context), who: Principal = Depends(principal)
) -> list[AliasOut]:
    async with ctx.uow() as work:
        return [alias_out(a) for a in await _listed(work, who, domain, Alias)]


@router.post("/aliases", response_model=AliasOut, status_code=201)
async def create_alias(
    body: AliasCreate, ctx: AdminContext = Depends(context), who: Principal = Depends(principal)
) -> AliasOut:
    address = address_or_400(body.address)
    target = address_or_400(body.target)
    async with ctx.uow() as work:
        domain = await owning_domain(work.session, who, address)
        entry = await claim_name(work.session, domain, address.local, AddressKind.ALIAS)
        await _check_alias_target(work.session, entry, target)
        alias = Alias(address_id=entry.id, target=target.text)
        alias.entry = entry
        work.session.add(alias)
        changed(work, ObjectKind.ALIAS, Action.CREATED, entry_address(entry), domain.name)
        return alias_out(alias)


@router.get("/aliases/{address}", response_model=AliasOut)
async def show_alias(
    address: str, ctx: AdminContext = Depends(context), who: Principal = Depends(principal)
) -> AliasOut:
    async with ctx.uow() as work:
        entry = await entry_of_kind(work.session, who, address, AddressKind.ALIAS)
        alias = await work.session.get(Alias, entry.id)
        return alias_out(alias)  # type: ignore[arg-type]


@router.put("/aliases/{address}", response_model=AliasOut)
async def update_alias(
    address: str, body: AliasUpdate, ctx: AdminContext = Depends(context), who: Principal = Depends(principal)
) -> AliasOut:
    target = address_or_400(body.target)
    async with ctx.uow() as work:
        entry = await entry_of_kind(work.session, who, address, AddressKind.ALIAS)
        await _check_alias_target(work.session, entry, target)
        alias = await work.session.get(Alias, entry.id)
        assert alias is not None
        alias.target = target.text
        changed(work, ObjectKind.ALIAS, Action.CHANGED, entry_address(entry), entry.domain.name)
        return alias_out(alias)


async def _check_alias_target(session, entry: AddressEntry, target) -> None:  # type: ignore[no-untyped-def]
    if await find_domain(session, target.domain) is None:
        raise BadRequest("an alias points at a local address; use a forwarder for remote ones")
    if entry_address(entry) == target.text:
        raise BadRequest("an alias cannot point at itself")


@router.delete("/aliases/{address}", status_code=204)
async def delete_alias(
    address: str, ctx: AdminContext = Depends(context), who: Principal = Depends(principal)
) -> Response:
    return await _delete_entry(ctx, who, address, AddressKind.ALIAS, ObjectKind.ALIAS)


# --- forwarders ---------------------------------------------------------------------------


def forwarder_out(forwarder: Forwarder) -> ForwarderOut:
    entry = forwarder.entry
    return ForwarderOut(address=entry_address(entry), domain=entry.domain.name, targets=list(forwarder.targets))


@router.get("/forwarders", response_model=list[ForwarderOut])
async def list_forwarders(
    domain: str | None = None, ctx: AdminContext = Depends(context), who: Principal = Depends(principal)
) -> list[ForwarderOut]:
    async with ctx.uow() as work:
        return [forwarder_out(f) for f in await _listed(work, who, domain, Forwarder)]


@router.post("/forwarders", response_model=ForwarderOut, status_code=201)
async def create_forwarder(
    body: ForwarderCreate, ctx: AdminContext = Depends(context), who: Principal = Depends(principal)
) -> ForwarderOut:
    address = address_or_400(body.address)
    targets = canonical_targets(body.targets)
    async with ctx.uow() as work:
        domain = await owning_domain(work.session, who, address)
        entry = await claim_name(work.session, domain, address.local, AddressKind.FORWARDER)
        forwarder = Forwarder(address_id=entry.id, targets=targets)
        forwarder.entry = entry
        work.session.add(forwarder)
        changed(work, ObjectKind.FORWARDER, Action.CREATED, entry_address(entry), domain.name)
        return forwarder_out(forwarder)


@router.get("/forwarders/{address}", response_model=ForwarderOut)
async def show_forwarder(
    address: str, ctx: AdminContext = Depends(context), who: Principal = Depends(principal)
) -> ForwarderOut:
    async with ctx.uow() as work:
        entry = await entry_of_kind(work.session, who, address, AddressKind.FORWARDER)
        return forwarder_out(await work.session.get(Forwarder, entry.id))  # type: ignore[arg-type]


@router.put("/forwarders/{address}", response_model=ForwarderOut)
async def update_forwarder(
    address: str, body: ForwarderUpdate, ctx: AdminContext = Depends(context), who: Principal = Depends(principal)
) -> ForwarderOut:
    targets = canonical_targets(body.targets)
    async with ctx.uow() as work:
        entry = await entry_of_kind(work.session, who, address, AddressKind.FORWARDER)
        forwarder = await work.session.get(Forwarder, entry.id)
        assert forwarder is not None
        forwarder.targets = targets
        changed(work, ObjectKind.FORWARDER, Action.CHANGED, entry_address(entry), entry.domain.name)
        return forwarder_out(forwarder)


@router.delete("/forwarders/{address}", status_code=204)
async def delete_forwarder(
    address: str, ctx: AdminContext = Depends(context), who: Principal = Depends(principal)
) -> Response:
    return await _delete_entry(ctx, who, address, AddressKind.FORWARDER, ObjectKind.FORWARDER)


# --- groups ---------------------------------------------------------------------------------


def group_out(group: Group) -> GroupOut:
    entry = group.entry
    return GroupOut(
        address=entry_address(entry),
        domain=entry.domain.name,
        real_name=group.real_name,
        members=[m.member for m in group.members],
    )


async def _group(work, who: Principal, address: str) -> Group:  # type: ignore[no-untyped-def]
    entry = await entry_of_kind(work.session, who, address, AddressKind.GROUP)
    group = await work.session.get(Group, entry.id)
    assert group is not None
    return group


@router.get("/groups", response_model=list[GroupOut])
async def list_groups(
    domain: str | None = None, ctx: AdminContext = Depends(context), who: Principal = Depends(principal)
) -> list[GroupOut]:
    async with ctx.uow() as work:
        return [group_out(g) for g in await _listed(work, who, domain, Group)]


@router.post("/groups", response_model=GroupOut, status_code=201)
async def create_group(
    body: GroupCreate, ctx: AdminContext = Depends(context), who: Principal = Depends(principal)
) -> GroupOut:
    address = address_or_400(body.address)
    members = canonical_targets(body.members)
    async with ctx.uow() as work:
        domain = await owning_domain(work.session, who, address)
        entry = await claim_name(work.session, domain, address.local, AddressKind.GROUP)
        if entry_address(entry) in members:
            raise BadRequest("a group cannot contain itself")
        group = Group(address_id=entry.id, real_name=body.real_name)
        group.entry = entry
        group.members = [GroupMember(member=m) for m in members]
        work.session.add(group)
        changed(work, ObjectKind.GROUP, Action.CREATED, entry_address(entry), domain.name)
        return group_out(group)


@router.get("/groups/{address}", response_model=GroupOut)
async def show_group(
    address: str, ctx: AdminContext = Depends(context), who: Principal = Depends(principal)
) -> GroupOut:
    async with ctx.uow() as work:
        return group_out(await _group(work, who, address))


@router.patch("/groups/{address}", response_model=GroupOut)
async def update_group(
    address: str, body: GroupUpdate, ctx: AdminContext = Depends(context), who: Principal = Depends(principal)
) -> GroupOut:
    async with ctx.uow() as work:
        group = await _group(work, who, address)
        if body.real_name is not None:
            group.real_name = body.real_name
        changed(work, ObjectKind.GROUP, Action.CHANGED, entry_address(group.entry), group.entry.domain.name)
        return group_out(group)


@router.delete("/groups/{address}", status_code=204)
async def delete_group(
    address: str, ctx: AdminContext = Depends(context), who: Principal = Depends(principal)
) -> Response:
    return await _delete_entry(ctx, who, address, AddressKind.GROUP, ObjectKind.GROUP)


@router.post("/groups/{address}/members", response_model=GroupOut)
async def add_member(
    address: str, body: MemberAdd, ctx: AdminContext = Depends(context), who: Principal = Depends(principal)
) -> GroupOut:
    member = address_or_400(body.address).text
    async with ctx.uow() as work:
        group = await _group(work, who, address)
        if member == entry_address(group.entry):
            raise BadRequest("a group cannot contain itself")
        if any(m.member == member for m in group.members):
            raise Conflict(f"{member} is already a member")
        group.members.append(GroupMember(member=member))
        changed(work, ObjectKind.GROUP, Action.CHANGED, entry_address(group.entry), group.entry.domain.name)
        await work.session.flush()
        return group_out(group)


@router.delete("/groups/{address}/members/{member}", response_model=GroupOut)
async def remove_member(
    address: str, member: str, ctx: AdminContext = Depends(context), who: Principal = Depends(principal)
) -> GroupOut:
    member_text = address_or_400(member).text
    async with ctx.uow() as work:
        group = await _group(work, who, address)
        row = next((m for m in group.members if m.member == member_text), None)
        if row is None:
            raise NotFound(f"{member_text} is not a member")
        group.members.remove(row)
        changed(work, ObjectKind.GROUP, Action.CHANGED, entry_address(group.entry), group.entry.domain.name)
        await work.session.flush()
        return group_out(group)
