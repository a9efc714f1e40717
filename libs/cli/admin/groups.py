"""`parley admin group ...`: an address that delivers to every member."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from libs.cli.admin._client import open_client, resource
from libs.cli.admin._output import JsonFlag, done, emit, print_fields, print_table

app = typer.Typer(help="Groups: an address delivering to all its members.", no_args_is_help=True)
member_app = typer.Typer(help="Add or remove a group's members.", no_args_is_help=True)
app.add_typer(member_app, name="member")

Address = Annotated[str, typer.Argument(help="The group's address.", show_default=False)]
Member = Annotated[str, typer.Argument(help="The member's address.", show_default=False)]
DomainFilter = Annotated[str | None, typer.Argument(help="Only this domain's groups.", show_default=False)]
RealName = Annotated[str | None, typer.Option("--real-name", help="Display name.")]

COLUMNS = [("address", "address"), ("real name", "real_name"), ("members", lambda g: len(g.get("members") or []))]
FIELDS = [("address", "address"), ("domain", "domain"), ("real name", "real_name"), ("members", "members")]


def render_group(group: dict[str, Any]) -> None:
    print_fields(group, FIELDS)


def render_groups(groups: list[dict[str, Any]]) -> None:
    print_table(groups, COLUMNS, empty="no groups")


@app.command("create")
def create_group(
    ctx: typer.Context,
    address: Address,
    real_name: RealName = None,
    member: Annotated[list[str] | None, typer.Option("--member", help="A member address (repeatable).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create a group."""
    body: dict[str, Any] = {"address": address}
    if real_name is not None:
        body["real_name"] = real_name
    if member:
        body["members"] = member
    emit(open_client(ctx).post("/groups", body), as_json=as_json, render=render_group)


@app.command("list")
def list_groups(ctx: typer.Context, domain: DomainFilter = None, as_json: JsonFlag = False) -> None:
    """List groups, all or one domain's."""
    params = {"domain": domain} if domain else None
    emit(open_client(ctx).get("/groups", params=params), as_json=as_json, render=render_groups)


@app.command("show")
def show_group(ctx: typer.Context, address: Address, as_json: JsonFlag = False) -> None:
    """Show one group and its members."""
    emit(open_client(ctx).get(resource("groups", address)), as_json=as_json, render=render_group)


@app.command("set")
def set_group(ctx: typer.Context, address: Address, real_name: RealName = None, as_json: JsonFlag = False) -> None:
    """Change a group's display name."""
    if real_name is None:
        raise typer.BadParameter("nothing to change: give --real-name")
    reply = open_client(ctx).patch(resource("groups", address), {"real_name": real_name})
    emit(reply, as_json=as_json, render=render_group)


@app.command("delete")
def delete_group(ctx: typer.Context, address: Address, as_json: JsonFlag = False) -> None:
    """Delete a group (its members are not touched)."""
    reply = open_client(ctx).delete(resource("groups", address))
    done(f"deleted group {address}", as_json=as_json, reply=reply)


@member_app.command("add")
def add_member(ctx: typer.Context, group: Address, address: Member, as_json: JsonFlag = False) -> None:
    """Add a member to a group."""
    reply = open_client(ctx).post(resource("groups", group, "members"), {"address": address})
    emit(reply, as_json=as_json, render=render_group)


@member_app.command("remove")
def remove_member(ctx: typer.Context, group: Address, address: Member, as_json: JsonFlag = False) -> None:
    """Remove a member from a group."""
    reply = open_client(ctx).delete(resource("groups", group, "members", address))
    emit(reply, as_json=as_json, render=render_group)
