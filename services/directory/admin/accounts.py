"""/accounts: the people who log in, with password and settings document."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Body, Depends, Query, Response
from sqlalchemy import select

from libs.contracts.directory import Action, ObjectKind
from libs.contracts.errors import BadRequest
from services.directory._credentials import credential_columns_async
from services.directory._lookup import entry_address
from services.directory.admin._common import (
    address_or_400,
    changed,
    claim_name,
    entry_of_kind,
    merge_document,
    owning_domain,
    scoped_domain,
)
from services.directory.admin.context import AdminContext, context, principal
from services.directory.admin.principal import Principal
from services.directory.admin.schemas import (
    AccountCreate,
    AccountOut,
    AccountUpdate,
    PasswordSet,
)
from services.directory.models import Account, AddressEntry, AddressKind, utcnow

router = APIRouter(prefix="/accounts", tags=["accounts"])

MAX_SETTINGS_BYTES = 64 * 1024


def account_out(account: Account) -> AccountOut:
    entry = account.entry
    return AccountOut(
        address=entry_address(entry),
        domain=entry.domain.name,
        name=entry.local,
        real_name=account.real_name,
        enabled=account.enabled,
        quota_bytes=account.quota_bytes,
        quota_messages=account.quota_messages,
        domain_admin=account.domain_admin,
        settings=account.settings or {},
        created_at=entry.created_at,
        updated_at=entry.updated_at,
    )


async def _account(work, who: Principal, address: str) -> Account:  # type: ignore[no-untyped-def]
    entry = await entry_of_kind(work.session, who, address, AddressKind.ACCOUNT)
    account = await work.session.get(Account, entry.id)
    assert account is not None  # the entry's kind says so
    return account


def _check_settings_size(document: dict[str, Any]) -> None:
    if len(json.dumps(document)) > MAX_SETTINGS_BYTES:
        raise BadRequest(f"settings document larger than {MAX_SETTINGS_BYTES} bytes")


@router.get("", response_model=list[AccountOut])
async def list_accounts(
    domain: str | None = None,
    limit: int = Query(100, ge=1, le=10_000),
    offset: int = Query(0, ge=0),
    ctx: AdminContext = Depends(context),
    who: Principal = Depends(principal),
) -> list[AccountOut]:
    async with ctx.uow() as work:
        scope = await scoped_domain(work.session, who, domain)
        query = select(Account).join(AddressEntry, Account.address_id == AddressEntry.id)
        if scope is not None:
            query = query.where(AddressEntry.domain_id == scope.id)
        query = query.order_by(AddressEntry.domain_id, AddressEntry.local).limit(limit).offset(offset)
        return [account_out(a) for a in await work.session.scalars(query)]


@router.post("", response_model=AccountOut, status_code=201)
async def create_account(
    body: AccountCreate, ctx: AdminContext = Depends(context), who: Principal = Depends(principal)
) -> AccountOut:
    address = address_or_400(body.address)
    _check_settings_size(body.settings)
    async with ctx.uow() as work:
        domain = await owning_domain(work.session, who, address)
        entry = await claim_name(work.session, domain, address.local, AddressKind.ACCOUNT)
        account = Account(
            address_id=entry.id,
            real_name=body.real_name,
            enabled=body.enabled,
            quota_bytes=body.quota_bytes,
            quota_messages=body.quota_messages,
            domain_admin=body.domain_admin,
            settings=body.settings,
        )
        account.entry = entry
        if body.password is not None:
            columns = await credential_columns_async(
                body.password, local=entry.local, domain=domain.name, scram_iterations=ctx.settings.scram_iterations
            )
            for key, value in columns.items():
                setattr(account, key, value)
        work.session.add(account)
        await work.session.flush()
        changed(work, ObjectKind.ACCOUNT, Action.CREATED, entry_address(entry), domain.name)
        return account_out(account)


@router.get("/{address}", response_model=AccountOut)
async def show_account(
    address: str, ctx: AdminContext = Depends(context), who: Principal = Depends(principal)
) -> AccountOut:
    async with ctx.uow() as work:
        return account_out(await _account(work, who, address))


@router.patch("/{address}", response_model=AccountOut)
async def update_account(
    address: str, body: AccountUpdate, ctx: AdminContext = Depends(context), who: Principal = Depends(principal)
) -> AccountOut:
    async with ctx.uow() as work:
        account = await _account(work, who, address)
        for field in body.model_fields_set:
            setattr(account, field, getattr(body, field))
        if "real_name" in body.model_fields_set and account.real_name is None:
            account.real_name = ""
        for flag in ("enabled", "domain_admin"):
            if getattr(account, flag) is None:
                setattr(account, flag, False)
        _mark_changed(work, account)
    ctx.admin_auth.forget()
    return account_out(account)


@router.delete("/{address}", status_code=204)
async def delete_account(
    address: str, ctx: AdminContext = Depends(context), who: Principal = Depends(principal)
) -> Response:
    async with ctx.uow() as work:
        account = await _account(work, who, address)
        name, domain = entry_address(account.entry), account.entry.domain.name
        await work.session.delete(account.entry)
        changed(work, ObjectKind.ACCOUNT, Action.DELETED, name, domain)
    ctx.admin_auth.forget()
    return Response(status_code=204)


@router.put("/{address}/password", status_code=204)
async def set_password(
    address: str, body: PasswordSet, ctx: AdminContext = Depends(context), who: Principal = Depends(principal)
) -> Response:
    async with ctx.uow() as work:
        account = await _account(work, who, address)
        columns = await credential_columns_async(
            body.password,
            local=account.entry.local,
            domain=account.entry.domain.name,
            scram_iterations=ctx.settings.scram_iterations,
        )
        for key, value in columns.items():
            setattr(account, key, value)
        _mark_changed(work, account)
    ctx.admin_auth.forget()
    return Response(status_code=204)


@router.get("/{address}/settings")
async def get_settings(
    address: str, ctx: AdminContext = Depends(context), who: Principal = Depends(principal)
) -> dict[str, Any]:
    async with ctx.uow() as work:
        return (await _account(work, who, address)).settings or {}


@router.put("/{address}/settings")
async def replace_settings(
    address: str,
    document: dict[str, Any] = Body(...),
    ctx: AdminContext = Depends(context),
    who: Principal = Depends(principal),
) -> dict[str, Any]:
    _check_settings_size(document)
    async with ctx.uow() as work:
        account = await _account(work, who, address)
        account.settings = document
        _mark_changed(work, account)
        return document


@router.patch("/{address}/settings")
async def merge_settings(
    address: str,
    changes: dict[str, Any] = Body(...),
    ctx: AdminContext = Depends(context),
    who: Principal = Depends(principal),
) -> dict[str, Any]:
    async with ctx.uow() as work:
        account = await _account(work, who, address)
        document = merge_document(account.settings or {}, changes)
        _check_settings_size(document)
        account.settings = document
        _mark_changed(work, account)
        return document


def _mark_changed(work, account: Account) -> None:  # type: ignore[no-untyped-def]
    account.entry.updated_at = utcnow()
    changed(work, ObjectKind.ACCOUNT, Action.CHANGED, entry_address(account.entry), account.entry.domain.name)
