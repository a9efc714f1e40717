"""Entry point of the `parley` command."""

from __future__ import annotations

import typer

from libs.cli import admin, suite

app = typer.Typer(
    name="parley",
    help="Parley unified communications suite: run it and administer it.",
    no_args_is_help=True,
    add_completion=False,
)
suite.register(app)
app.add_typer(
    admin.app, name="admin", help="Administer domains, accounts, aliases, forwarders, groups (admin REST API client)."
)

if __name__ == "__main__":
    app()
