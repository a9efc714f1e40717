"""/admins: server administrators (domain administrators are accounts with a flag)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, Response
from sqlalchemy import func, select

from libs.auth import passwords
from libs.contracts.directory import Action, ObjectKind
from libs.contracts.errors import Conflict, NotFound
from services.directory.admin._common import changed
from services.directory.admin.context import AdminContext, context, principal
from services.directory.admin.principal import Principal
from services.directory.admin.schemas import AdminCreate, AdminOut, PasswordSet
from services.directory.models import Admin

router = APIRouter(prefix="/admins", tags=["administrators"])


async def _admin(work, name: str) -> Admin:  # type: ignore[no-untyped-def]
    admin = await work.session.scalar(select(Admin).where(Admin.name == name.lower()))
    if admin is None:
        raise NotFound(f"no administrator {name}")
    return admin


@router.get("", response_model=list[AdminOut])
async def list_admins(ctx: AdminContext = Depends(context), who: Principal = Depends(principal)) -> list[AdminOut]:
    who.require_server_admin()
    async with ctx.uow() as work:
        admins = await work.session.scalars(select(Admin).order_by(Admin.name))
        return [AdminOut(name=a.name, created_at=a.created_at) for a in admins]


@router.post("", response_model=AdminOut, status_code=201)
async def create_admin(
    body: AdminCreate, ctx: AdminContext = Depends(context), who: Principal = Depends(principal)
) -> AdminOut:
    who.require_server_admin()
    name = body.name.lower()
    hashed = await asyncio.to_thread(passwords.hash_password, body.password)
    async with ctx.uow() as work:
        if await work.session.scalar(select(Admin).where(Admin.name == name)) is not None:
            raise Conflict(f"administrator {name} already exists")
        admin = Admin(name=name, password_hash=hashed)
        work.session.add(admin)
        await work.session.flush()
        changed(work, ObjectKind.ADMIN, Action.CREATED, name)
        return AdminOut(name=admin.name, created_at=admin.created_at)


@router.delete("/{name}", status_code=204)
async def delete_admin(
    name: str, ctx: AdminContext = Depends(context), who: Principal = Depends(principal)
) -> Response:
    who.require_server_admin()
    async with ctx.uow() as work:
        admin = await _admin(work, name)
        if await work.session.scalar(select(func.count()).select_from(Admin)) == 1:
            raise Conflict("the last server administrator cannot be deleted")
        await work.session.delete(admin)
        changed(work, ObjectKind.ADMIN, Action.DELETED, admin.name)
    ctx.admin_auth.forget()
    return Response(status_code=204)


@router.put("/{name}/password", status_code=204)
async def set_admin_password(
    name: str, body: PasswordSet, ctx: AdminContext = Depends(context), who: Principal = Depends(principal)
) -> Response:
    who.require_server_admin()
    hashed = await asyncio.to_thread(passwords.hash_password, body.password)
    async with ctx.uow() as work:
        admin = await _admin(work, name)
        admin.password_hash = hashed
        changed(work, ObjectKind.ADMIN, Action.CHANGED, admin.name)
    ctx.admin_auth.forget()
    return Response(status_code=204)
