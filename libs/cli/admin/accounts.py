"""`parley admin account ...`: mailboxes and logins, their quotas, flags and passwords."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from libs.cli.admin import account_settings
from libs.cli.admin._client import open_client, resource
from libs.cli.admin._input import (
    PasswordOption,
    PasswordStdinFlag,
    obtain_password,
    parse_quota,
)
from libs.cli.admin._output import JsonFlag, done, emit, print_fields, print_table

app = typer.Typer(
    help="Accounts: create, list, show, change, delete, set passwords and settings.",
    no_args_is_help=True,
)
app.add_typer(account_settings.app, name="settings")

Address = Annotated[str, typer.Argument(help="The account's address (user@domain).", show_default=False)]
RealName = Annotated[str | None, typer.Option("--real-name", help="Display name.")]


def quota_cell(account: dict[str, Any]) -> str:
    """Both quotas in one column, `-` for no limit."""
    size, count = account.get("quota_bytes"), account.get("quota_messages")
    parts = [f"{size} bytes" if size is not None else "", f"{count} messages" if count is not None else ""]
    return ", ".join(part for part in parts if part) or "-"


def limit_text(value: int | None) -> str:
    """A quota where null means no limit, which `-` would not say."""
    return "unlimited" if value is None else str(value)


COLUMNS = [
    ("address", "address"),
    ("real name", "real_name"),
    ("enabled", "enabled"),
    ("domain admin", "domain_admin"),
    ("quota", quota_cell),
]
FIELDS = [
    ("address", "address"),
    ("domain", "domain"),
    ("real name", "real_name"),
    ("enabled", "enabled"),
    ("domain admin", "domain_admin"),
    ("quota bytes", lambda account: limit_text(account.get("quota_bytes"))),
    ("quota messages", lambda account: limit_text(account.get("quota_messages"))),
    ("settings", "settings"),
    ("created", "created_at"),
    ("updated", "updated_at"),
]


def render_account(account: dict[str, Any]) -> None:
    print_fields(account, FIELDS)


def render_accounts(accounts: list[dict[str, Any]]) -> None:
    print_table(accounts, COLUMNS, empty="no accounts")


@app.command("create")
def create_account(
    ctx: typer.Context,
    address: Address,
    password: PasswordOption = None,
    password_stdin: PasswordStdinFlag = False,
    real_name: RealName = None,
    quota_bytes: Annotated[int | None, typer.Option("--quota-bytes", min=0, help="Storage limit in bytes.")] = None,
    quota_messages: Annotated[int | None, typer.Option("--quota-messages", min=0, help="Message count limit.")] = None,
    domain_admin: Annotated[bool, typer.Option("--domain-admin", help="May administer its own domain.")] = False,
    disabled: Annotated[
        bool, typer.Option("--disabled", help="Create it disabled (cannot log in or receive).")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Create an account (without a password it cannot log in until one is set)."""
    body: dict[str, Any] = {"address": address}
    optional = {
        "password": obtain_password(password, password_stdin, required=False),
        "real_name": real_name,
        "quota_bytes": quota_bytes,
        "quota_messages": quota_messages,
    }
    body.update({key: value for key, value in optional.items() if value is not None})
    if domain_admin:
        body["domain_admin"] = True
    if disabled:
        body["enabled"] = False
    emit(open_client(ctx).post("/accounts", body), as_json=as_json, render=render_account)


@app.command("list")
def list_accounts(
    ctx: typer.Context,
    domain: Annotated[str | None, typer.Argument(help="Only this domain's accounts.", show_default=False)] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many accounts.")] = 100,
    offset: Annotated[int, typer.Option("--offset", min=0, help="Skip this many first.")] = 0,
    as_json: JsonFlag = False,
) -> None:
    """List accounts, all or one domain's, a page at a time."""
    params: dict[str, Any] = {"limit": limit, "offset": offset}
    if domain:
        params["domain"] = domain
    emit(open_client(ctx).get("/accounts", params=params), as_json=as_json, render=render_accounts)


@app.command("show")
def show_account(ctx: typer.Context, address: Address, as_json: JsonFlag = False) -> None:
    """Show one account."""
    emit(open_client(ctx).get(resource("accounts", address)), as_json=as_json, render=render_account)


@app.command("delete")
def delete_account(ctx: typer.Context, address: Address, as_json: JsonFlag = False) -> None:
    """Delete an account."""
    reply = open_client(ctx).delete(resource("accounts", address))
    done(f"deleted account {address}", as_json=as_json, reply=reply)


def account_changes(
    *,
    real_name: str | None,
    enabled: bool | None,
    quota_bytes: str | None,
    quota_messages: str | None,
    domain_admin: bool | None,
) -> dict[str, Any]:
    """The PATCH body: only what was given, a quota of `none` as null (which clears it)."""
    body: dict[str, Any] = {}
    if real_name is not None:
        body["real_name"] = real_name
    if enabled is not None:
        body["enabled"] = enabled
    if quota_bytes is not None:
        body["quota_bytes"] = parse_quota(quota_bytes, option="--quota-bytes")
    if quota_messages is not None:
        body["quota_messages"] = parse_quota(quota_messages, option="--quota-messages")
    if domain_admin is not None:
        body["domain_admin"] = domain_admin
    return body


@app.command("set")
def set_account(
    ctx: typer.Context,
    address: Address,
    real_name: RealName = None,
    enabled: Annotated[
        bool | None, typer.Option("--enable/--disable", help="Allow logins and delivery or not.")
    ] = None,
    quota_bytes: Annotated[
        str | None, typer.Option("--quota-bytes", metavar="N|none", help="Storage limit in bytes; none removes it.")
    ] = None,
    quota_messages: Annotated[
        str | None, typer.Option("--quota-messages", metavar="N|none", help="Message count limit; none removes it.")
    ] = None,
    domain_admin: Annotated[
        bool | None, typer.Option("--domain-admin/--no-domain-admin", help="May administer its own domain.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Change an account's name, state, quotas or domain administrator flag."""
    body = account_changes(
        real_name=real_name,
        enabled=enabled,
        quota_bytes=quota_bytes,
        quota_messages=quota_messages,
        domain_admin=domain_admin,
    )
    if not body:
        raise typer.BadParameter("nothing to change: give at least one option (see --help)")
    emit(open_client(ctx).patch(resource("accounts", address), body), as_json=as_json, render=render_account)


@app.command("password")
def set_account_password(
    ctx: typer.Context,
    address: Address,
    password: PasswordOption = None,
    password_stdin: PasswordStdinFlag = False,
    as_json: JsonFlag = False,
) -> None:
    """Set an account's password (prompted for, twice, when not given)."""
    new_password = obtain_password(password, password_stdin, required=True)
    reply = open_client(ctx).put(resource("accounts", address, "password"), {"password": new_password})
    done(f"password of {address} changed", as_json=as_json, reply=reply)
