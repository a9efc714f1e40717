"""`parley admin admins ...`: server administrators (logins without `@` that may do everything)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from libs.cli.admin._client import open_client, resource
from libs.cli.admin._input import PasswordOption, PasswordStdinFlag, obtain_password
from libs.cli.admin._output import JsonFlag, done, emit, print_fields, print_table

app = typer.Typer(help="Server administrators: create, list, delete, set passwords.", no_args_is_help=True)

Name = Annotated[str, typer.Argument(help="The administrator's login (no @).", show_default=False)]

COLUMNS = [("name", "name"), ("created", "created_at")]
FIELDS = [("name", "name"), ("created", "created_at")]


def render_admin(admin: dict[str, Any]) -> None:
    print_fields(admin, FIELDS)


def render_admins(admins: list[dict[str, Any]]) -> None:
    print_table(admins, COLUMNS, empty="no administrators")


@app.command("create")
def create_admin(
    ctx: typer.Context,
    name: Name,
    password: PasswordOption = None,
    password_stdin: PasswordStdinFlag = False,
    as_json: JsonFlag = False,
) -> None:
    """Create a server administrator (password prompted for when not given)."""
    secret = obtain_password(password, password_stdin, required=True)
    emit(open_client(ctx).post("/admins", {"name": name, "password": secret}), as_json=as_json, render=render_admin)


@app.command("list")
def list_admins(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """List server administrators."""
    emit(open_client(ctx).get("/admins"), as_json=as_json, render=render_admins)


@app.command("delete")
def delete_admin(ctx: typer.Context, name: Name, as_json: JsonFlag = False) -> None:
    """Delete a server administrator (the last one cannot be deleted)."""
    reply = open_client(ctx).delete(resource("admins", name))
    done(f"deleted administrator {name}", as_json=as_json, reply=reply)


@app.command("password")
def set_admin_password(
    ctx: typer.Context,
    name: Name,
    password: PasswordOption = None,
    password_stdin: PasswordStdinFlag = False,
    as_json: JsonFlag = False,
) -> None:
    """Set a server administrator's password (prompted for when not given)."""
    secret = obtain_password(password, password_stdin, required=True)
    reply = open_client(ctx).put(resource("admins", name, "password"), {"password": secret})
    done(f"password of administrator {name} changed", as_json=as_json, reply=reply)
