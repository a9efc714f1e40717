"""`parley admin forwarder ...`: an address that redirects to others, local or remote."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from libs.cli.admin._client import open_client, resource
from libs.cli.admin._output import JsonFlag, done, emit, print_fields, print_table

app = typer.Typer(help="Forwarders: an address redirecting to any addresses.", no_args_is_help=True)

Address = Annotated[str, typer.Argument(help="The forwarder's address.", show_default=False)]
Targets = Annotated[list[str], typer.Argument(help="Where mail goes (one or more addresses).", show_default=False)]
DomainFilter = Annotated[str | None, typer.Argument(help="Only this domain's forwarders.", show_default=False)]

COLUMNS = [("address", "address"), ("targets", "targets")]
FIELDS = [("address", "address"), ("domain", "domain"), ("targets", "targets")]


def render_forwarder(forwarder: dict[str, Any]) -> None:
    print_fields(forwarder, FIELDS)


def render_forwarders(forwarders: list[dict[str, Any]]) -> None:
    print_table(forwarders, COLUMNS, empty="no forwarders")


@app.command("create")
def create_forwarder(ctx: typer.Context, address: Address, targets: Targets, as_json: JsonFlag = False) -> None:
    """Create a forwarder."""
    reply = open_client(ctx).post("/forwarders", {"address": address, "targets": targets})
    emit(reply, as_json=as_json, render=render_forwarder)


@app.command("list")
def list_forwarders(ctx: typer.Context, domain: DomainFilter = None, as_json: JsonFlag = False) -> None:
    """List forwarders, all or one domain's."""
    params = {"domain": domain} if domain else None
    emit(open_client(ctx).get("/forwarders", params=params), as_json=as_json, render=render_forwarders)


@app.command("show")
def show_forwarder(ctx: typer.Context, address: Address, as_json: JsonFlag = False) -> None:
    """Show one forwarder."""
    emit(open_client(ctx).get(resource("forwarders", address)), as_json=as_json, render=render_forwarder)


@app.command("set")
def set_forwarder(ctx: typer.Context, address: Address, targets: Targets, as_json: JsonFlag = False) -> None:
    """Replace a forwarder's targets."""
    reply = open_client(ctx).put(resource("forwarders", address), {"targets": targets})
    emit(reply, as_json=as_json, render=render_forwarder)


@app.command("delete")
def delete_forwarder(ctx: typer.Context, address: Address, as_json: JsonFlag = False) -> None:
    """Delete a forwarder."""
    reply = open_client(ctx).delete(resource("forwarders", address))
    done(f"deleted forwarder {address}", as_json=as_json, reply=reply)
