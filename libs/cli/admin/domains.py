"""`parley admin domain ...`: the mail domains the suite serves, and their alias names."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from libs.cli.admin import dkim
from libs.cli.admin._client import open_client, resource
from libs.cli.admin._input import parse_settings
from libs.cli.admin._output import JsonFlag, done, emit, print_fields, print_table

app = typer.Typer(help="Mail domains: create, list, show, change, delete.", no_args_is_help=True)
alias_app = typer.Typer(help="Other names under which a domain receives the same mail.", no_args_is_help=True)
app.add_typer(alias_app, name="alias")
app.add_typer(dkim.app, name="dkim")

DomainName = Annotated[str, typer.Argument(help="Domain name (Unicode or xn-- form).", show_default=False)]
AliasName = Annotated[str, typer.Argument(help="Alias domain name.", show_default=False)]

COLUMNS = [("name", "name"), ("enabled", "enabled"), ("aliases", "aliases")]
FIELDS = [
    ("name", "name"),
    ("aliases", "aliases"),
    ("enabled", "enabled"),
    ("settings", "settings"),
    ("created", "created_at"),
]


def render_domain(domain: dict[str, Any]) -> None:
    print_fields(domain, FIELDS)


def render_domains(domains: list[dict[str, Any]]) -> None:
    print_table(domains, COLUMNS, empty="no domains")


@app.command("create")
def create_domain(
    ctx: typer.Context,
    name: DomainName,
    alias: Annotated[list[str] | None, typer.Option("--alias", help="An alias domain (repeatable).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create a domain."""
    body: dict[str, Any] = {"name": name}
    if alias:
        body["aliases"] = alias
    emit(open_client(ctx).post("/domains", body), as_json=as_json, render=render_domain)


@app.command("list")
def list_domains(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """List all domains."""
    emit(open_client(ctx).get("/domains"), as_json=as_json, render=render_domains)


@app.command("show")
def show_domain(ctx: typer.Context, name: DomainName, as_json: JsonFlag = False) -> None:
    """Show one domain."""
    emit(open_client(ctx).get(resource("domains", name)), as_json=as_json, render=render_domain)


@app.command("delete")
def delete_domain(
    ctx: typer.Context,
    name: DomainName,
    force: Annotated[
        bool, typer.Option("--force", help="Also delete its accounts, aliases, forwarders and groups.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Delete a domain (refused while it still has addresses, unless --force)."""
    reply = open_client(ctx).delete(resource("domains", name), params={"force": force})
    done(f"deleted domain {name}", as_json=as_json, reply=reply)


@app.command("set")
def set_domain(
    ctx: typer.Context,
    name: DomainName,
    enabled: Annotated[bool | None, typer.Option("--enable/--disable", help="Accept mail for it or not.")] = None,
    setting: Annotated[
        list[str] | None,
        typer.Option(
            "--setting",
            metavar="KEY=VALUE",
            help="A domain setting; VALUE is JSON or a string, null removes it (repeatable).",
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Change a domain: enable or disable it, set or remove settings (other settings are kept)."""
    changes = parse_settings(setting or [])
    if enabled is None and not changes:
        raise typer.BadParameter("nothing to change: give --enable/--disable or --setting")
    body: dict[str, Any] = {} if enabled is None else {"enabled": enabled}
    if changes:
        body["settings"] = changes  # merged by the server; null removes a key
    emit(open_client(ctx).patch(resource("domains", name), body), as_json=as_json, render=render_domain)


@alias_app.command("add")
def add_domain_alias(ctx: typer.Context, domain: DomainName, alias: AliasName, as_json: JsonFlag = False) -> None:
    """Add an alias domain."""
    reply = open_client(ctx).post(resource("domains", domain, "aliases"), {"name": alias})
    emit(reply, as_json=as_json, render=render_domain)


@alias_app.command("remove")
def remove_domain_alias(ctx: typer.Context, domain: DomainName, alias: AliasName, as_json: JsonFlag = False) -> None:
    """Remove an alias domain."""
    reply = open_client(ctx).delete(resource("domains", domain, "aliases", alias))
    done(f"removed alias {alias} from domain {domain}", as_json=as_json, reply=reply)
