"""What the admin API's handlers need, injected through FastAPI dependencies."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Depends, Request
from fastapi.security import HTTPBasic, HTTPBasicCredentials

from libs.contracts.errors import Unauthorized
from libs.db.unit_of_work import UnitOfWork
from services.directory._reads import DirectoryReads
from services.directory.admin.principal import AdminAuthenticator, Principal
from services.directory.config import DirectorySettings

_basic = HTTPBasic(auto_error=False)


@dataclass(frozen=True)
class AdminContext:
    uow: UnitOfWork
    admin_auth: AdminAuthenticator
    settings: DirectorySettings
    reads: DirectoryReads


def context(request: Request) -> AdminContext:
    ctx: AdminContext = request.app.state.ctx
    return ctx


async def principal(
    request: Request,
    credentials: HTTPBasicCredentials | None = Depends(_basic),
    ctx: AdminContext = Depends(context),
) -> Principal:
    if credentials is None:
        raise Unauthorized("administrator credentials required (HTTP Basic)")
    client = request.client.host if request.client else ""
    return await ctx.admin_auth.authenticate(credentials.username, credentials.password, client)
