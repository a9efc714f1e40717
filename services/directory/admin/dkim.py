"""/domains/{name}/dkim: a domain's DKIM signing keys and the DNS records to publish for them.

The private key never leaves through this API: the reply shows the public
half and the TXT record. The signer uses the domain's newest active key, so a
rotation is: create the new key with `active: false`, publish its record,
wait for DNS, set it active, and delete the old key once mail signed with it
has been delivered.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Depends, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from libs.contracts.directory import Action, ObjectKind
from libs.contracts.errors import BadRequest, Conflict, NotFound
from services.directory._dkim import ALGORITHMS, SELECTOR, dns_name, dns_record, dns_zone_line, generate_key
from services.directory._lookup import get_domain_or_raise
from services.directory.admin._common import changed, domain_name_or_400
from services.directory.admin.context import AdminContext, context, principal
from services.directory.admin.principal import Principal
from services.directory.admin.schemas import DkimKeyCreate, DkimKeyOut, DkimKeyUpdate
from services.directory.models import DkimKey, Domain

router = APIRouter(prefix="/domains/{name}/dkim", tags=["dkim"])
MAX_KEYS_PER_DOMAIN = 20


def key_out(key: DkimKey, domain: Domain, signing: DkimKey | None) -> DkimKeyOut:
    return DkimKeyOut(
        domain=domain.name,
        selector=key.selector,
        algorithm=key.algorithm,
        active=key.active,
        signing=signing is not None and signing.id == key.id,
        created_at=key.created_at,
        public_key=key.public_key,
        dns_name=dns_name(key.selector, domain.name),
        dns_record=dns_record(key.algorithm, key.public_key),
        dns_zone_line=dns_zone_line(key.selector, domain.name, key.algorithm, key.public_key),
    )


async def _keys(session: AsyncSession, domain: Domain) -> list[DkimKey]:
    query = select(DkimKey).where(DkimKey.domain_id == domain.id).order_by(DkimKey.created_at.desc(), DkimKey.id.desc())
    return list(await session.scalars(query))


def _signing(keys: list[DkimKey]) -> DkimKey | None:
    return next((k for k in keys if k.active), None)  # keys are newest first


def _selector_or_400(text: str) -> str:
    selector = text.strip().lower()
    if not SELECTOR.match(selector):
        raise BadRequest(f"invalid selector {text[:70]!r}: letters, digits and inner hyphens, at most 63")
    return selector


async def _domain(session: AsyncSession, who: Principal, name: str) -> Domain:
    domain = await get_domain_or_raise(session, domain_name_or_400(name))
    who.require_domain(domain.name)
    return domain


def _find(keys: list[DkimKey], selector: str, domain: Domain) -> DkimKey:
    key = next((k for k in keys if k.selector == selector), None)
    if key is None:
        raise NotFound(f"{domain.name} has no DKIM key with selector {selector}")
    return key


@router.get("", response_model=list[DkimKeyOut])
async def list_dkim_keys(
    name: str, ctx: AdminContext = Depends(context), who: Principal = Depends(principal)
) -> list[DkimKeyOut]:
    async with ctx.uow() as work:
        domain = await _domain(work.session, who, name)
        keys = await _keys(work.session, domain)
        return [key_out(k, domain, _signing(keys)) for k in keys]


@router.post("", response_model=DkimKeyOut, status_code=201)
async def create_dkim_key(
    name: str, body: DkimKeyCreate, ctx: AdminContext = Depends(context), who: Principal = Depends(principal)
) -> DkimKeyOut:
    algorithm = ALGORITHMS.get(body.algorithm.lower().removesuffix("-sha256"))
    if algorithm is None:
        raise BadRequest(f"unknown algorithm {body.algorithm[:40]!r}: use rsa or ed25519")
    short = "ed25519" if algorithm.value.startswith("ed25519") else "rsa"
    selector = _selector_or_400(body.selector or f"{short}-{datetime.now(UTC):%Y%m%d}")
    async with ctx.uow() as work:
        domain = await _domain(work.session, who, name)
        keys = await _keys(work.session, domain)
        if any(k.selector == selector for k in keys):
            raise Conflict(f"{domain.name} already has a DKIM key with selector {selector}")
        if len(keys) >= MAX_KEYS_PER_DOMAIN:
            raise Conflict(f"{domain.name} has {len(keys)} DKIM keys; delete old ones first")
        private_pem, public = generate_key(algorithm)
        key = DkimKey(domain_id=domain.id, selector=selector, algorithm=algorithm.value, private_key=private_pem,
                      public_key=public, active=body.active, created_at=datetime.now(UTC))  # fmt: skip
        work.session.add(key)
        await work.session.flush()
        changed(work, ObjectKind.DKIM_KEY, Action.CREATED, dns_name(selector, domain.name), domain.name)
        return key_out(key, domain, _signing([key, *keys]))


@router.get("/{selector}", response_model=DkimKeyOut)
async def show_dkim_key(
    name: str, selector: str, ctx: AdminContext = Depends(context), who: Principal = Depends(principal)
) -> DkimKeyOut:
    async with ctx.uow() as work:
        domain = await _domain(work.session, who, name)
        keys = await _keys(work.session, domain)
        return key_out(_find(keys, _selector_or_400(selector), domain), domain, _signing(keys))


@router.patch("/{selector}", response_model=DkimKeyOut)
async def update_dkim_key(
    name: str,
    selector: str,
    body: DkimKeyUpdate,
    ctx: AdminContext = Depends(context),
    who: Principal = Depends(principal),
) -> DkimKeyOut:
    async with ctx.uow() as work:
        domain = await _domain(work.session, who, name)
        keys = await _keys(work.session, domain)
        key = _find(keys, _selector_or_400(selector), domain)
        key.active = body.active
        changed(work, ObjectKind.DKIM_KEY, Action.CHANGED, dns_name(key.selector, domain.name), domain.name)
        return key_out(key, domain, _signing(keys))


@router.delete("/{selector}", status_code=204)
async def delete_dkim_key(
    name: str, selector: str, ctx: AdminContext = Depends(context), who: Principal = Depends(principal)
) -> Response:
    async with ctx.uow() as work:
        domain = await _domain(work.session, who, name)
        key = _find(await _keys(work.session, domain), _selector_or_400(selector), domain)
        await work.session.delete(key)
        changed(work, ObjectKind.DKIM_KEY, Action.DELETED, dns_name(key.selector, domain.name), domain.name)
    return Response(status_code=204)
