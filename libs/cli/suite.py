"""`parley up`, `parley status`, `parley migrate`: the suite on one machine.

`up` prepares everything that can fail before a process starts (data dir,
settings, TLS certificate, a free NATS port, migrations), so a mistake is
one clear message rather than a crash loop, and then hands over to
`libs.cli.up`, which runs NATS and supervises the services.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from sqlalchemy.engine import make_url

from libs.cli import natsd, probe
from libs.cli import up as runner
from libs.cli.catalog import ServiceSpec, by_name
from libs.config import SuiteSettings
from libs.tls import ensure_self_signed

DataDirOption = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Data directory (default: PARLEY_DATA_DIR, else ./var).", show_default=False),
]
ServicesOption = Annotated[
    str,
    typer.Option("--services", help="Comma-separated services to act on (default: all).", show_default=False),
]
DATA_SUBDIRS = ("nats", "db", "tls", "run")
T = TypeVar("T")


def register(app: typer.Typer) -> None:
    app.command("up")(up)
    app.command("status")(status)
    app.command("migrate")(migrate)


def up(
    data_dir: DataDirOption = None,
    services: ServicesOption = "",
    health_timeout: Annotated[float, typer.Option(help="Seconds to wait for every service's /healthz.")] = 60.0,
) -> None:
    """Start NATS and the services in the foreground and supervise them (Ctrl-C stops all)."""
    specs = selected(services)
    plan = _or_fail(
        lambda: runner.Plan(
            specs=specs,
            data_dir=prepare_data_dir(data_dir),
            suite=SuiteSettings(),  # after prepare_data_dir: it reads the exported PARLEY_DATA_DIR
            nats=natsd.EmbeddedNatsSettings(),
            nats_binary=natsd.find_binary(),
            health_timeout=health_timeout,
        )
    )
    try:
        _or_fail(lambda: prepare(plan))
    except KeyboardInterrupt:  # during migrations: nothing runs yet, nothing to stop
        raise typer.Exit(130) from None
    raise typer.Exit(asyncio.run(runner.run(plan)))


def prepare(plan: runner.Plan) -> None:
    """Everything that can fail before a process starts, so it fails with one clear line."""
    validate_settings(plan.specs)
    natsd.ensure_port_free(plan.listen)
    ensure_ops_ports_free(plan.specs, plan.host)
    cert, key = plan.data_dir / "tls" / "cert.pem", plan.data_dir / "tls" / "key.pem"
    if ensure_self_signed(cert, key):
        typer.echo(f"Created a self-signed TLS certificate: {cert}")
    for line in migrate_services(plan.specs, plan.suite):
        typer.echo(line)


def status(
    data_dir: DataDirOption = None,
    services: ServicesOption = "",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")] = False,
) -> None:
    """Probe NATS and every service's /healthz and /readyz; exit 1 unless all are healthy."""
    specs = selected(services)
    prepare_data_dir(data_dir, create=False)
    report = asyncio.run(collect_status(specs, SuiteSettings()))
    typer.echo(json.dumps(report, indent=2) if as_json else status_table(report))
    raise typer.Exit(0 if report["healthy"] else 1)


def migrate(data_dir: DataDirOption = None, services: ServicesOption = "") -> None:
    """Bring the database of every selected service that owns one to the latest schema."""
    specs = selected(services)
    prepare_data_dir(data_dir)
    lines = _or_fail(lambda: migrate_services(specs, SuiteSettings()))
    typer.echo("\n".join(lines) if lines else "No selected service owns a database.")


def selected(services: str) -> list[ServiceSpec]:
    names = [name.strip() for name in services.split(",") if name.strip()]
    try:
        return by_name(names)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--services") from None


def prepare_data_dir(data_dir: Path | None, *, create: bool = True) -> Path:
    """Resolve the data dir to an absolute path and export it as PARLEY_DATA_DIR.

    Exported so that every settings object loaded afterwards, here and in the
    children, agrees on it even if a child runs from another working directory.
    """
    path = (data_dir if data_dir is not None else SuiteSettings().data_dir).expanduser().resolve()
    if create:
        for sub in DATA_SUBDIRS:
            (path / sub).mkdir(parents=True, exist_ok=True)
        (path / "secrets").mkdir(mode=0o700, exist_ok=True)  # credentials: owner only
    os.environ["PARLEY_DATA_DIR"] = str(path)
    return path


def validate_settings(specs: list[ServiceSpec]) -> None:
    """Load every service's settings now: a bad PARLEY_* value stops `up` before anything runs."""
    for spec in specs:
        spec.load_settings()


def ensure_ops_ports_free(specs: list[ServiceSpec], host: str) -> None:
    """A taken ops port means a service that cannot start, and a health check
    that another process would answer: refuse, like for the NATS port."""
    for spec in specs:
        port = spec.ops_port()
        if natsd.is_listening(natsd.Listen(host=host, port=port)):
            raise RuntimeError(
                f"{host}:{port} ({spec.name} ops port, PARLEY_{spec.name.upper()}_OPS_PORT) is already in use; "
                "is the suite already running?"
            )


def migrate_services(specs: list[ServiceSpec], suite: SuiteSettings) -> list[str]:
    """Run the migrations of each owning service; one line per service saying what was done."""
    from libs.db.migrations import (
        upgrade,  # alembic is heavy; `status` does not need it
    )

    done = []
    for spec in specs:
        if not spec.owns_database:
            continue
        url = spec.load_settings().database(suite)
        try:
            upgrade(spec.name, url)
        except Exception as error:
            raise RuntimeError(f"migrating {spec.name} ({_masked(url)}) failed: {error}") from error
        done.append(f"Migrated {spec.name}: {_masked(url)} is at the latest schema.")
    return done


async def collect_status(specs: list[ServiceSpec], suite: SuiteSettings) -> dict[str, Any]:
    host = probe.connect_host(suite.bind_host)
    nats_up, statuses = await asyncio.gather(
        probe.nats_answers(natsd.listen_address(suite.nats_url)), probe.probe_services(specs, host)
    )
    return {
        "healthy": nats_up and all(s.healthy for s in statuses),
        "nats": {"url": suite.nats_url, "up": nats_up},
        "services": [s.as_dict() for s in statuses],
    }


def status_table(report: dict[str, Any]) -> str:
    yes_no = {True: "yes", False: "no"}
    rows = [("SERVICE", "URL", "HEALTHY", "READY"), ("nats", report["nats"]["url"], yes_no[report["nats"]["up"]], "-")]
    rows += [(s["name"], s["ops_url"], yes_no[s["healthy"]], yes_no[s["ready"]]) for s in report["services"]]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows)


def _masked(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _or_fail(step: Callable[[], T]) -> T:
    """Run a preparation step; turn its error into one line on stderr and exit code 1."""
    try:
        return step()
    except (natsd.NatsStartError, RuntimeError, ValueError, OSError) as error:
        typer.echo(f"parley: {error}", err=True)
        raise typer.Exit(1) from None
