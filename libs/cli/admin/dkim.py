"""`parley admin domain dkim ...`: a domain's DKIM signing keys and the DNS records to publish."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import typer

from libs.cli.admin._client import open_client, resource
from libs.cli.admin._output import JsonFlag, done, emit, print_fields, print_table

app = typer.Typer(
    help="DKIM signing keys of a domain: create, list, show, activate, deactivate, delete.", no_args_is_help=True
)

DomainName = Annotated[str, typer.Argument(help="Domain name.", show_default=False)]
OptionalSelector = Annotated[
    str | None, typer.Option("--selector", "-s", help="Key selector (default: the key that signs now).")
]
Selector = Annotated[str, typer.Option("--selector", "-s", help="Key selector.", show_default=False)]


class Algorithm(StrEnum):
    rsa = "rsa"
    ed25519 = "ed25519"


COLUMNS = [("selector", "selector"), ("algorithm", "algorithm"), ("active", "active"), ("signing", "signing"),
           ("created", "created_at")]  # fmt: skip
FIELDS = [
    ("domain", "domain"),
    ("selector", "selector"),
    ("algorithm", "algorithm"),
    ("active", "active"),
    ("signing", "signing"),
    ("created", "created_at"),
    ("dns name", "dns_name"),
    ("dns record", "dns_record"),
]


def render_key(key: dict[str, Any]) -> None:
    print_fields(key, FIELDS)
    typer.echo("\nPublish this TXT record before the key signs mail (zone-file syntax):")
    typer.echo(key.get("dns_zone_line", ""))


def render_keys(keys: list[dict[str, Any]]) -> None:
    print_table(keys, COLUMNS, empty="no DKIM keys")


@app.command("create")
def create_key(
    ctx: typer.Context,
    domain: DomainName,
    selector: OptionalSelector = None,
    algorithm: Annotated[
        Algorithm, typer.Option("--algorithm", "-a", help="rsa (rsa-sha256, 2048-bit) or ed25519 (ed25519-sha256).")
    ] = Algorithm.rsa,
    inactive: Annotated[
        bool, typer.Option("--inactive", help="Do not sign with it yet (activate once DNS has the record).")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Create a key; prints the DNS TXT record to publish."""
    body: dict[str, Any] = {"algorithm": algorithm.value, "active": not inactive}
    if selector:
        body["selector"] = selector
    emit(open_client(ctx).post(resource("domains", domain, "dkim"), body), as_json=as_json, render=render_key)


@app.command("list")
def list_keys(ctx: typer.Context, domain: DomainName, as_json: JsonFlag = False) -> None:
    """List a domain's keys, newest first."""
    emit(open_client(ctx).get(resource("domains", domain, "dkim")), as_json=as_json, render=render_keys)


@app.command("show")
def show_key(
    ctx: typer.Context, domain: DomainName, selector: OptionalSelector = None, as_json: JsonFlag = False
) -> None:
    """Show a key and its DNS record (by default the one that signs now)."""
    client = open_client(ctx)
    if selector:
        emit(client.get(resource("domains", domain, "dkim", selector)), as_json=as_json, render=render_key)
        return
    signing = [k for k in client.get(resource("domains", domain, "dkim")) if k.get("signing")]
    if not signing:
        typer.echo(f"{domain} has no active DKIM key", err=True)
        raise typer.Exit(1)
    emit(signing[0], as_json=as_json, render=render_key)


def _set_active(ctx: typer.Context, domain: str, selector: str, active: bool, as_json: bool) -> None:
    reply = open_client(ctx).patch(resource("domains", domain, "dkim", selector), {"active": active})
    emit(reply, as_json=as_json, render=render_key)


@app.command("activate")
def activate_key(ctx: typer.Context, domain: DomainName, selector: Selector, as_json: JsonFlag = False) -> None:
    """Let a key sign (the newest active key of a domain signs)."""
    _set_active(ctx, domain, selector, True, as_json)


@app.command("deactivate")
def deactivate_key(ctx: typer.Context, domain: DomainName, selector: Selector, as_json: JsonFlag = False) -> None:
    """Stop signing with a key (keep its DNS record until mail signed with it is delivered)."""
    _set_active(ctx, domain, selector, False, as_json)


@app.command("delete")
def delete_key(ctx: typer.Context, domain: DomainName, selector: Selector, as_json: JsonFlag = False) -> None:
    """Delete a key (then remove its DNS record)."""
    reply = open_client(ctx).delete(resource("domains", domain, "dkim", selector))
    done(f"deleted DKIM key {selector} of {domain}", as_json=as_json, reply=reply)
