"""Turning what the user typed into API values: passwords, settings, quotas.

Passwords never have to appear on a command line (where `ps` and shell
history would keep them): `--password-stdin` reads them from a pipe, and
commands that need one prompt for it on a terminal.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

PasswordOption = Annotated[
    str | None,
    typer.Option("--password", help="The password (visible in process lists: prefer --password-stdin)."),
]
PasswordStdinFlag = Annotated[
    bool,
    typer.Option("--password-stdin", help="Read the password from standard input."),
]

CLEAR_WORDS = {"none", "null", "unlimited"}


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json_or_string(text: str) -> Any:
    """The value as JSON when it is valid JSON (`42`, `true`, `{"a": 1}`, `"quoted"`), else the text itself.

    NaN and Infinity, which Python's parser accepts, are not JSON and stay strings.
    """
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except ValueError:
        return text


def parse_setting(text: str) -> tuple[str, Any]:
    """`KEY=VALUE` as given to `--setting`, the value parsed like `settings set`."""
    key, separator, value = text.partition("=")
    if not separator or not key.strip():
        raise typer.BadParameter(f"expected KEY=VALUE, got {text!r}", param_hint="--setting")
    return key.strip(), parse_json_or_string(value)


def parse_settings(items: list[str]) -> dict[str, Any]:
    return dict(parse_setting(item) for item in items)


def parse_quota(text: str, *, option: str) -> int | None:
    """A quota for `set`: a non-negative integer, or `none` to remove the limit."""
    if text.strip().lower() in CLEAR_WORDS:
        return None
    try:
        value = int(text)
    except ValueError:
        raise typer.BadParameter(f"expected a number or 'none', got {text!r}", param_hint=option) from None
    if value < 0:
        raise typer.BadParameter("must not be negative", param_hint=option)
    return value


def stdin_is_tty() -> bool:
    """Whether a person could answer a prompt (a seam for tests, whose stdin never is one)."""
    return sys.stdin.isatty()


def _read_stdin_password() -> str:
    text = sys.stdin.read()
    password = text.rstrip("\r\n")
    if not password:
        raise typer.BadParameter("no password on standard input", param_hint="--password-stdin")
    return password


def obtain_password(password: str | None, from_stdin: bool, *, required: bool) -> str | None:
    """The password from the flag, from stdin, or (when one is required) typed twice at a prompt."""
    if password is not None and from_stdin:
        raise typer.BadParameter("use either --password or --password-stdin, not both", param_hint="--password")
    if from_stdin:
        return _read_stdin_password()
    if password is not None or not required:
        return password
    if not stdin_is_tty():
        raise typer.BadParameter("give --password or --password-stdin (standard input is not a terminal)")
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))
