"""Builds the CDR API application: authentication, filters, list, fetch and exports.

Authenticated like the directory's admin API (HTTP Basic, checked by the
directory over the bus): server administrators see every call, domain
administrators the calls from or to an account of their domain.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, StreamingResponse
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from libs.contracts import directory
from libs.contracts.errors import NotFound, ServiceError, Unauthorized
from libs.log import get_logger
from services.cdr.api import _queries as queries
from services.cdr.api._admins import AdminLogins
from services.cdr.api._export import csv_lines, jsonl_lines
from services.cdr.api.schemas import CallRecords, CdrOut, CdrPage, Result

API_PREFIX = "/api/v1"
MAX_LIMIT = 1000
_basic = HTTPBasic(auto_error=False)
_log = get_logger()


@dataclass(frozen=True)
class ApiContext:
    sessions: async_sessionmaker[AsyncSession]
    logins: AdminLogins


def _context(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.ctx
    return ctx


async def _principal(
    request: Request,
    credentials: HTTPBasicCredentials | None = Depends(_basic),
    ctx: ApiContext = Depends(_context),
) -> directory.AdminPrincipal:
    if credentials is None:
        raise Unauthorized("administrator credentials required (HTTP Basic)")
    client = request.client.host if request.client else ""
    return await ctx.logins.authenticate(credentials.username, credentials.password, client)


Since = Annotated[
    datetime | None, Query(description="calls started at or after this time (ISO 8601; UTC if no offset)")
]
Until = Annotated[datetime | None, Query(description="calls started before this time")]
Account = Annotated[str | None, Query(description="calls made or received by this account", max_length=320)]
ResultFilter = Annotated[Result | None, Query(description="only calls with this result")]
Who = Annotated[directory.AdminPrincipal, Depends(_principal)]
Ctx = Annotated[ApiContext, Depends(_context)]


def build_api_app(ctx: ApiContext) -> FastAPI:
    app = FastAPI(
        title="Parley CDR API",
        version="1",
        description="Call detail records: query by time, account and result; export as CSV or JSON Lines. "
        "See docs/cdr.md.",
    )
    app.state.ctx = ctx

    @app.exception_handler(ServiceError)
    async def service_error(_request: Request, exc: ServiceError) -> JSONResponse:
        headers = {"WWW-Authenticate": 'Basic realm="parley"'} if exc.http_status == 401 else None
        return JSONResponse({"detail": exc.message}, status_code=exc.http_status, headers=headers)

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, exc: Exception) -> JSONResponse:
        _log.error("cdr.api.failed", error=repr(exc), exc_info=exc)
        return JSONResponse({"detail": "internal error; see the cdr service's log"}, status_code=500)

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/docs")

    @app.get(f"{API_PREFIX}/cdrs", response_model=CdrPage, tags=["cdrs"])
    async def list_cdrs(
        who: Who,
        ctx: Ctx,
        since: Since = None,
        until: Until = None,
        account: Account = None,
        result: ResultFilter = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
        cursor: Annotated[str | None, Query(max_length=200)] = None,
    ) -> CdrPage:
        """Records in start-time order, one page at a time (keyset pagination)."""
        filters = queries.filters_for(who, since=since, until=until, account=account, result=_value(result))
        after = queries.decode_cursor(cursor) if cursor else None
        async with ctx.sessions() as session:
            rows = await queries.page(session, filters, limit=limit + 1, after=after)  # one more: is there a next?
        rows, more = rows[:limit], len(rows) > limit
        next_cursor = queries.encode_cursor(rows[-1]) if more else None
        return CdrPage(items=[CdrOut.of(row) for row in rows], next_cursor=next_cursor)

    @app.get(f"{API_PREFIX}/cdrs/export.csv", tags=["export"], response_class=StreamingResponse)
    async def export_csv(
        who: Who, ctx: Ctx, since: Since = None, until: Until = None, account: Account = None,
        result: ResultFilter = None,
    ) -> StreamingResponse:  # fmt: skip
        """Finished calls (same filters as the list) as CSV, header row first."""
        filters = queries.filters_for(who, since=since, until=until, account=account, result=_value(result),
                                      final_only=True)  # fmt: skip
        return StreamingResponse(csv_lines(queries.all_rows(ctx.sessions, filters)), media_type="text/csv")

    @app.get(f"{API_PREFIX}/cdrs/export.jsonl", tags=["export"], response_class=StreamingResponse)
    async def export_jsonl(
        who: Who, ctx: Ctx, since: Since = None, until: Until = None, account: Account = None,
        result: ResultFilter = None,
    ) -> StreamingResponse:  # fmt: skip
        """Finished calls (same filters as the list) as JSON Lines: one record object per line."""
        filters = queries.filters_for(who, since=since, until=until, account=account, result=_value(result),
                                      final_only=True)  # fmt: skip
        rows = queries.all_rows(ctx.sessions, filters)
        return StreamingResponse(jsonl_lines(rows), media_type="application/jsonl")

    @app.get(f"{API_PREFIX}/cdrs/{{call_id}}", response_model=CallRecords, tags=["cdrs"])
    async def get_call(call_id: str, who: Who, ctx: Ctx) -> CallRecords:
        """Every leg of one call, by its SIP Call-ID."""
        async with ctx.sessions() as session:
            rows = await queries.by_call_id(session, call_id, who.domain if who.role == "domain" else None)
        if not rows:
            raise NotFound(f"no call {call_id}")
        return CallRecords(items=[CdrOut.of(row) for row in rows])

    return app


def _value(result: Result | None) -> str | None:
    return None if result is None else result.value
