"""`parley admin account settings ...`: an account's free-form settings document.

Values typed on the command line are JSON when they parse as JSON (`42`,
`true`, `["a"]`, `"007"`) and plain strings otherwise, so `theme dark` and
`theme '"dark"'` mean the same thing. Changes go through PATCH, which merges
into the stored document; setting a key to null removes it.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from libs.cli.admin._client import AdminError, open_client, resource
from libs.cli.admin._input import parse_json_or_string
from libs.cli.admin._output import JsonFlag, emit, print_json

app = typer.Typer(help="An account's settings document: get, set, unset keys.", no_args_is_help=True)

Address = Annotated[str, typer.Argument(help="The account's address.", show_default=False)]
Key = Annotated[str, typer.Argument(help="Top-level key of the settings document.", show_default=False)]
Value = Annotated[
    str,
    typer.Argument(
        help="JSON if it parses as JSON, else taken as a string (null removes the key).",
        show_default=False,
    ),
]


class MissingSetting(AdminError):
    """The account exists but has no such key."""


def setting_text(value: Any) -> str:
    """A string as itself (handy in `$(...)`), anything else as compact JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def render_settings(document: dict[str, Any]) -> None:
    if not document:
        typer.echo("no settings")
    for key, value in document.items():
        typer.echo(f"{key}: {json.dumps(value, ensure_ascii=False)}")


def settings_path(address: str) -> str:
    return resource("accounts", address, "settings")


@app.command("get")
def get_settings(
    ctx: typer.Context,
    address: Address,
    key: Annotated[str | None, typer.Argument(help="Only this key's value.", show_default=False)] = None,
    as_json: JsonFlag = False,
) -> None:
    """Print the settings document, or one key's value."""
    document = open_client(ctx).get(settings_path(address))
    if key is None:
        emit(document, as_json=as_json, render=render_settings)
        return
    if key not in document:
        raise MissingSetting(f"{address} has no setting {key!r}")
    if as_json:
        print_json(document[key])
    else:
        typer.echo(setting_text(document[key]))


@app.command("set")
def set_setting(ctx: typer.Context, address: Address, key: Key, value: Value, as_json: JsonFlag = False) -> None:
    """Set one key (merged into the document; other keys are kept)."""
    parsed = parse_json_or_string(value)
    document = open_client(ctx).patch(settings_path(address), {key: parsed})
    if as_json:
        print_json(document)
    else:
        typer.echo(f"{key} = {json.dumps(parsed, ensure_ascii=False)}")


@app.command("unset")
def unset_setting(ctx: typer.Context, address: Address, key: Key, as_json: JsonFlag = False) -> None:
    """Remove one key."""
    document = open_client(ctx).patch(settings_path(address), {key: None})
    if as_json:
        print_json(document)
    else:
        typer.echo(f"removed {key} from the settings of {address}")
