"""HTTP access to the admin REST API, and the one place its failures become messages.

Every command talks to the API through `AdminClient`, which raises an
`AdminError` for anything expected to go wrong (a refusal by the API, a
server that is not running, missing credentials). `ReportingGroup`, the
click group class of `parley admin`, turns those into an `error: ...` line on
stderr and an exit code, so no command handles errors itself and no expected
failure ends in a traceback.

Exit codes: 1 the API refused the request, 2 the client could not be set up
(no credentials, bad URL; the same code click uses for usage errors),
3 the API could not be reached.
"""

from __future__ import annotations

import json
from typing import Any, NoReturn
from urllib.parse import quote

import click
import httpx
import typer
from typer.core import TyperGroup

from libs.cli.admin._credentials import (
    Connection,
    ConnectionOptions,
    CredentialsError,
    discover_connection,
)

TIMEOUT_SECONDS = 10.0
USER_AGENT = "parley-admin"

# Seam for tests: when set, every client sends its requests through this
# transport (an httpx.MockTransport) instead of the network.
transport_override: httpx.BaseTransport | None = None

_LOCATION_SOURCES = {"body", "query", "path", "header", "cookie"}


class AdminError(Exception):
    """An expected failure: shown as `error: ...` lines, then the process exits with `exit_code`."""

    exit_code = 1

    def lines(self) -> list[str]:
        return [str(self)]

    def hints(self) -> list[str]:
        return []


class ApiError(AdminError):
    """The API answered with a 4xx/5xx (or something that is not its JSON)."""

    def __init__(self, status: int, details: list[str]) -> None:
        super().__init__("; ".join(details))
        self.status = status
        self.details = details

    def lines(self) -> list[str]:
        return self.details

    def hints(self) -> list[str]:
        if self.status == 401:
            return [
                "check --user/--password (PARLEY_ADMIN_USER/PARLEY_ADMIN_PASSWORD) or <data dir>/secrets/admin.json"
            ]
        return []


class SetupError(AdminError):
    """The client cannot even start: no credentials, or an unusable URL."""

    exit_code = 2

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint

    def hints(self) -> list[str]:
        return [self.hint] if self.hint else []


class ApiUnreachable(AdminError):
    """Nothing (or nothing sensible) answered at the API's address."""

    exit_code = 3


def quote_segment(value: str) -> str:
    """One path segment, percent-encoded as UTF-8.

    `+`, `/`, `%`, `?` and `#` are all legal in an address local part and would
    otherwise change the meaning of the URL; `@` is a legal path character
    (RFC 3986 section 3.3) and stays readable.
    """
    return quote(value, safe="@")


def resource(*segments: str) -> str:
    """The API path made of these segments, each quoted on its own."""
    return "/" + "/".join(quote_segment(segment) for segment in segments)


def _validation_line(item: Any) -> str:
    """`field: message` for one FastAPI/pydantic validation error."""
    if not isinstance(item, dict):
        return str(item)
    location = [str(part) for part in item.get("loc") or []]
    if len(location) > 1 and location[0] in _LOCATION_SOURCES:
        location = location[1:]
    message = str(item.get("msg") or item.get("type") or "invalid")
    return f"{'.'.join(location)}: {message}" if location else message


def error_details(response: httpx.Response) -> list[str]:
    """The human-readable reasons in an error reply, one per line."""
    try:
        payload = response.json()
    except ValueError:
        payload = None
    detail = payload.get("detail") if isinstance(payload, dict) else None
    if isinstance(detail, str) and detail:
        return [detail]
    if isinstance(detail, list) and detail:
        return [_validation_line(item) for item in detail]
    if detail:
        return [json.dumps(detail, ensure_ascii=False)]
    summary = f"HTTP {response.status_code} {response.reason_phrase}".rstrip()
    text = response.text.strip()
    if text and not text.startswith("<"):  # an HTML error page says nothing useful
        summary += f": {text[:200]}"
    return [summary]


def check_url(url: str) -> None:
    """Refuse `localhost:8010` and the like early: httpx would read `localhost` as the scheme."""
    try:
        scheme = httpx.URL(url).scheme
    except httpx.InvalidURL as error:
        raise SetupError(f"invalid admin API URL {url!r}: {error}") from error
    if scheme not in ("http", "https"):
        raise SetupError(f"invalid admin API URL {url!r}: it must start with http:// or https://")


class AdminClient:
    """A logged-in session with the admin API; methods return the decoded JSON reply."""

    def __init__(self, connection: Connection, *, transport: httpx.BaseTransport | None = None) -> None:
        self.connection = connection
        check_url(connection.base_url)
        self._http = httpx.Client(
            base_url=connection.api_url,
            auth=httpx.BasicAuth(connection.user, connection.password),
            transport=transport,
            timeout=TIMEOUT_SECONDS,
            headers={"Accept": "application/json", "User-Agent": USER_AGENT},
        )

    def close(self) -> None:
        self._http.close()

    def get(self, path: str, *, params: dict[str, Any] | None = None) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, body: Any) -> Any:
        return self.request("POST", path, body=body)

    def put(self, path: str, body: Any) -> Any:
        return self.request("PUT", path, body=body)

    def patch(self, path: str, body: Any) -> Any:
        return self.request("PATCH", path, body=body)

    def delete(self, path: str, *, params: dict[str, Any] | None = None) -> Any:
        return self.request("DELETE", path, params=params)

    def request(self, method: str, path: str, *, params: dict[str, Any] | None = None, body: Any = None) -> Any:
        """Send one request; the reply's JSON, or None for an empty reply (204)."""
        try:
            response = self._http.request(method, path, params=params, json=body)
        except httpx.TransportError as error:
            self._raise_unreachable(error)
        if not response.is_success:
            raise ApiError(response.status_code, error_details(response))
        return self._decode(response)

    def _decode(self, response: httpx.Response) -> Any:
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError as error:
            raise ApiError(
                response.status_code,
                [f"the reply from {self.connection.base_url} is not JSON: is that the Parley admin API?"],
            ) from error

    def _raise_unreachable(self, error: httpx.TransportError) -> NoReturn:
        url = self.connection.base_url
        if isinstance(error, httpx.ConnectError):
            raise ApiUnreachable(f"cannot reach the admin API at {url}: is the suite running? (make run)") from error
        if isinstance(error, httpx.TimeoutException):
            raise ApiUnreachable(f"the admin API at {url} did not answer within {TIMEOUT_SECONDS:g}s") from error
        raise ApiUnreachable(f"cannot talk to the admin API at {url}: {error}") from error


def open_client(ctx: typer.Context) -> AdminClient:
    """The client for this invocation, closed when the command's context ends.

    Credentials are looked up here rather than in the `admin` callback so that
    `--help` and argument errors work on a machine with no suite running.
    """
    options = ctx.find_object(ConnectionOptions)
    if options is None:
        raise RuntimeError("parley admin commands must run under the admin callback")
    try:
        connection = discover_connection(options)
    except CredentialsError as error:
        raise SetupError(str(error), hint=error.hint) from error
    client = AdminClient(connection, transport=transport_override)
    ctx.call_on_close(client.close)
    return client


def report(error: AdminError) -> None:
    for line in error.lines():
        typer.echo(f"error: {line}", err=True)
    for line in error.hints():
        typer.echo(f"hint: {line}", err=True)


class ReportingGroup(TyperGroup):
    """The `parley admin` group: prints expected failures and exits, instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AdminError as error:
            report(error)
            raise typer.Exit(error.exit_code) from None
