"""`parley admin resolve` and `parley admin whoami`: questions rather than objects.

`resolve` shows where mail for an address would go, following aliases,
forwarders and groups the way the mail services do; `whoami` shows which
login the client is using and what it may administer.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from libs.cli.admin._client import open_client, resource
from libs.cli.admin._output import JsonFlag, emit, print_fields

RESOLUTION_FIELDS = [
    ("address", "address"),
    ("status", "status"),
    ("accounts", "accounts"),
    ("remote", "remote"),
    ("reason", "reason"),
]
WHOAMI_FIELDS = [("name", "name"), ("role", "role"), ("domain", "domain")]


def render_resolution(resolution: dict[str, Any]) -> None:
    print_fields(resolution, RESOLUTION_FIELDS)


def render_whoami(identity: dict[str, Any]) -> None:
    print_fields(identity, WHOAMI_FIELDS)


def resolve_address(
    ctx: typer.Context,
    address: Annotated[str, typer.Argument(help="Any address, local or not.", show_default=False)],
    as_json: JsonFlag = False,
) -> None:
    """Show which local accounts and remote addresses mail for ADDRESS reaches."""
    emit(open_client(ctx).get(resource("resolve", address)), as_json=as_json, render=render_resolution)


def whoami(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Show the login in use: server administrator, or domain administrator of which domain."""
    emit(open_client(ctx).get("/whoami"), as_json=as_json, render=render_whoami)


def register(app: typer.Typer) -> None:
    app.command("resolve")(resolve_address)
    app.command("whoami")(whoami)
