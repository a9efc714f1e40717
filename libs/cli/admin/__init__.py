"""`parley admin ...`: a command-line client of the directory's admin REST API (docs/admin-api.md).

The `admin` callback only records how to connect (flags, environment, data
dir); each command opens the connection itself, so `--help` works anywhere.
Expected failures are reported by `ReportingGroup` in `_client.py`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from libs.cli.admin import (
    accounts,
    admins,
    aliases,
    domains,
    forwarders,
    groups,
    resolve,
)
from libs.cli.admin._client import ReportingGroup
from libs.cli.admin._credentials import DEFAULT_URL, ConnectionOptions

app = typer.Typer(
    cls=ReportingGroup,
    no_args_is_help=True,
    add_completion=False,
    help="Administer domains, accounts, aliases, forwarders, groups (admin REST API client).",
)


@app.callback()
def admin(
    ctx: typer.Context,
    url: Annotated[
        str | None,
        typer.Option(
            "--url",
            envvar="PARLEY_ADMIN_URL",
            help=f"Admin API address (default: from the secrets file, else {DEFAULT_URL}).",
        ),
    ] = None,
    user: Annotated[
        str | None, typer.Option("--user", envvar="PARLEY_ADMIN_USER", help="Login (default: from the secrets file).")
    ] = None,
    password: Annotated[
        str | None,
        typer.Option("--password", envvar="PARLEY_ADMIN_PASSWORD", help="Password (default: from the secrets file)."),
    ] = None,
    data_dir: Annotated[
        Path,
        typer.Option("--data-dir", envvar="PARLEY_DATA_DIR", help="Suite data dir holding secrets/admin.json."),
    ] = Path("var"),
) -> None:
    """Administer the directory: credentials come from the flags, the environment or <data-dir>/secrets/admin.json."""
    ctx.obj = ConnectionOptions(url=url, user=user, password=password, data_dir=data_dir)


app.add_typer(domains.app, name="domain")
app.add_typer(accounts.app, name="account")
app.add_typer(aliases.app, name="alias")
app.add_typer(forwarders.app, name="forwarder")
app.add_typer(groups.app, name="group")
app.add_typer(admins.app, name="admins")
resolve.register(app)

__all__ = ["app"]
