"""Builds the admin FastAPI application: routers, error mapping, request limits."""

from __future__ import annotations

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.responses import Response

from libs.contracts.directory import ResolveReply
from libs.contracts.errors import ServiceError
from libs.log import get_logger
from services.directory._resolver import resolve
from services.directory.admin import accounts, admins, dkim, domains, routing
from services.directory.admin.context import AdminContext, context, principal
from services.directory.admin.principal import Principal
from services.directory.admin.schemas import WhoAmI

MAX_BODY_BYTES = 1024 * 1024
API_PREFIX = "/api/v1"
_log = get_logger()


class BodyLimit(BaseHTTPMiddleware):
    """Refuse oversize bodies up front (413) instead of parsing megabytes of JSON."""

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
            return JSONResponse({"detail": f"request body larger than {MAX_BODY_BYTES} bytes"}, status_code=413)
        return await call_next(request)


def build_admin_app(ctx: AdminContext) -> FastAPI:
    app = FastAPI(
        title="Parley directory admin API",
        version="1",
        description="Domains, accounts, aliases, forwarders, groups and administrators. See docs/admin-api.md.",
    )
    app.state.ctx = ctx
    app.add_middleware(BodyLimit)
    for router in (domains.router, dkim.router, accounts.router, routing.router, admins.router):
        app.include_router(router, prefix=API_PREFIX)

    @app.exception_handler(ServiceError)
    async def service_error(_request: Request, exc: ServiceError) -> JSONResponse:
        headers = {"WWW-Authenticate": 'Basic realm="parley"'} if exc.http_status == 401 else None
        return JSONResponse({"detail": exc.message}, status_code=exc.http_status, headers=headers)

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, exc: Exception) -> JSONResponse:
        _log.error("directory.admin.failed", error=repr(exc), exc_info=exc)
        return JSONResponse({"detail": "internal error; see the directory service's log"}, status_code=500)

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/docs")

    @app.get(f"{API_PREFIX}/whoami", response_model=WhoAmI, tags=["misc"])
    async def whoami(who: Principal = Depends(principal)) -> WhoAmI:
        return WhoAmI(name=who.name, role=who.role, domain=who.domain)

    @app.get(f"{API_PREFIX}/resolve/{{address}}", response_model=ResolveReply, tags=["misc"])
    async def resolve_address(
        address: str, ctx: AdminContext = Depends(context), who: Principal = Depends(principal)
    ) -> ResolveReply:
        return await resolve(ctx.reads, address, max_depth=ctx.settings.max_resolve_depth)

    return app
