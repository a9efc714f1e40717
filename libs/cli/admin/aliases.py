"""`parley admin alias ...`: one more name for a local address."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from libs.cli.admin._client import open_client, resource
from libs.cli.admin._output import JsonFlag, done, emit, print_fields, print_table

app = typer.Typer(help="Aliases: another address delivering to a local address.", no_args_is_help=True)

Address = Annotated[str, typer.Argument(help="The alias address.", show_default=False)]
DomainFilter = Annotated[str | None, typer.Argument(help="Only this domain's aliases.", show_default=False)]

COLUMNS = [("address", "address"), ("target", "target")]
FIELDS = [("address", "address"), ("domain", "domain"), ("target", "target")]


def render_alias(alias: dict[str, Any]) -> None:
    print_fields(alias, FIELDS)


def render_aliases(aliases: list[dict[str, Any]]) -> None:
    print_table(aliases, COLUMNS, empty="no aliases")


@app.command("create")
def create_alias(
    ctx: typer.Context,
    address: Address,
    target: Annotated[str, typer.Argument(help="The local address it delivers to.", show_default=False)],
    as_json: JsonFlag = False,
) -> None:
    """Create an alias."""
    reply = open_client(ctx).post("/aliases", {"address": address, "target": target})
    emit(reply, as_json=as_json, render=render_alias)


@app.command("list")
def list_aliases(ctx: typer.Context, domain: DomainFilter = None, as_json: JsonFlag = False) -> None:
    """List aliases, all or one domain's."""
    params = {"domain": domain} if domain else None
    emit(open_client(ctx).get("/aliases", params=params), as_json=as_json, render=render_aliases)


@app.command("show")
def show_alias(ctx: typer.Context, address: Address, as_json: JsonFlag = False) -> None:
    """Show one alias."""
    emit(open_client(ctx).get(resource("aliases", address)), as_json=as_json, render=render_alias)


@app.command("set")
def set_alias(
    ctx: typer.Context,
    address: Address,
    target: Annotated[str, typer.Argument(help="The new local address it delivers to.", show_default=False)],
    as_json: JsonFlag = False,
) -> None:
    """Point an alias at another local address."""
    reply = open_client(ctx).put(resource("aliases", address), {"target": target})
    emit(reply, as_json=as_json, render=render_alias)


@app.command("delete")
def delete_alias(ctx: typer.Context, address: Address, as_json: JsonFlag = False) -> None:
    """Delete an alias."""
    reply = open_client(ctx).delete(resource("aliases", address))
    done(f"deleted alias {address}", as_json=as_json, reply=reply)
