"""`parley status` and `parley migrate`, and the pieces `parley up` prints, in-process."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from libs.cli import natsd, suite
from libs.cli.catalog import SERVICES, by_name
from libs.cli.up import Plan, endpoint_lines, service_env
from libs.config import SuiteSettings
from libs.testing.ports import free_ports

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def cli() -> typer.Typer:
    app = typer.Typer()
    suite.register(app)
    return app


@pytest.fixture
def nothing_running(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Suite settings pointing at free ports and a temporary data dir."""
    nats_port, ops_port, admin_port = free_ports(3)
    monkeypatch.setenv("PARLEY_NATS_URL", f"nats://127.0.0.1:{nats_port}")
    monkeypatch.setenv("PARLEY_DIRECTORY_OPS_PORT", str(ops_port))
    monkeypatch.setenv("PARLEY_DIRECTORY_ADMIN_PORT", str(admin_port))
    monkeypatch.setenv("PARLEY_DATA_DIR", str(tmp_path / "data"))  # restored after the test
    return tmp_path / "data"


def _plan(data_dir: Path) -> Plan:
    return Plan(
        specs=by_name(["directory"]),
        data_dir=data_dir,
        suite=SuiteSettings(),
        nats=natsd.EmbeddedNatsSettings(),
        nats_binary=Path("/usr/bin/nats-server"),
        health_timeout=1.0,
    )


def test_data_dir_is_made_absolute_created_and_exported(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PARLEY_DATA_DIR", "unused")
    path = suite.prepare_data_dir(Path("here"))
    assert path == tmp_path / "here"
    assert os.environ["PARLEY_DATA_DIR"] == str(path)
    assert all((path / sub).is_dir() for sub in ("nats", "db", "tls", "run", "secrets"))
    assert (path / "secrets").stat().st_mode & 0o077 == 0


def test_data_dir_defaults_to_the_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PARLEY_DATA_DIR", str(tmp_path / "from-env"))
    assert suite.prepare_data_dir(None, create=False) == tmp_path / "from-env"
    assert not (tmp_path / "from-env").exists()


def test_unknown_service_is_a_usage_error() -> None:
    with pytest.raises(typer.BadParameter, match="unknown service"):
        suite.selected("directory, nope")
    assert [s.name for s in suite.selected(" directory ,")] == ["directory"]


def test_status_table_has_a_row_for_nats_and_each_service() -> None:
    report = {
        "healthy": False,
        "nats": {"url": "nats://127.0.0.1:4222", "up": True},
        "services": [{"name": "directory", "ops_url": "http://127.0.0.1:9101", "healthy": True, "ready": False}],
    }
    assert suite.status_table(report).splitlines() == [
        "SERVICE    URL                    HEALTHY  READY",
        "nats       nats://127.0.0.1:4222  yes      -",
        "directory  http://127.0.0.1:9101  yes      no",
    ]


def test_status_fails_when_nothing_runs(cli: typer.Typer, nothing_running: Path) -> None:
    result = CliRunner().invoke(cli, ["status", "--json"])
    assert result.exit_code == 1, result.output
    report = json.loads(result.output)
    assert report["healthy"] is False
    assert report["nats"]["up"] is False
    assert [s["name"] for s in report["services"]] == [spec.name for spec in SERVICES]
    assert not nothing_running.exists()  # looking does not create a data dir


def test_endpoints_name_every_url_and_the_first_admin_step(nothing_running: Path) -> None:
    plan = _plan(nothing_running)
    text = "\n".join(endpoint_lines(plan))
    ops_port = os.environ["PARLEY_DIRECTORY_OPS_PORT"]
    admin_port = os.environ["PARLEY_DIRECTORY_ADMIN_PORT"]
    assert os.environ["PARLEY_NATS_URL"] in text
    assert f"http://127.0.0.1:{admin_port}/api/v1" in text
    assert f"http://127.0.0.1:{ops_port}/healthz" in text
    assert str(nothing_running / "secrets" / "admin.json") in text
    assert "parley admin domain create example.test" in text


def test_children_get_the_absolute_data_dir_and_the_nats_url(nothing_running: Path) -> None:
    env = service_env(_plan(nothing_running))
    assert env["PARLEY_DATA_DIR"] == str(nothing_running)
    assert env["PARLEY_NATS_URL"] == os.environ["PARLEY_NATS_URL"]
    assert env["PYTHONUNBUFFERED"] == "1"


def test_migrate_creates_the_directory_database(cli: typer.Typer, nothing_running: Path) -> None:
    result = CliRunner().invoke(cli, ["migrate", "--data-dir", str(nothing_running), "--services", "directory"])
    assert result.exit_code == 0, result.output
    assert "Migrated directory" in result.output
    database = nothing_running / "db" / "directory.sqlite3"
    with sqlite3.connect(database) as db:
        tables = {row[0] for row in db.execute("select name from sqlite_master where type = 'table'")}
    assert "alembic_version_directory" in tables


def test_up_refuses_a_taken_ops_port(cli: typer.Typer, nothing_running: Path) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", int(os.environ["PARLEY_DIRECTORY_OPS_PORT"])))
        sock.listen()
        result = CliRunner().invoke(cli, ["up", "--services", "directory"])
    assert result.exit_code == 1
    assert "PARLEY_DIRECTORY_OPS_PORT" in result.output
