"""A real directory service process per test module, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from libs.testing.natsd import NatsServer
from libs.testing.ports import free_ports
from libs.testing.services import ServiceProcess


@dataclass
class Directory:
    process: ServiceProcess
    admin_url: str
    nats_url: str
    admin_user: str
    admin_password: str
    data_dir: Path
    database_url: str

    def client(self, user: str | None = None, password: str | None = None) -> httpx.Client:
        auth = (user or self.admin_user, password or self.admin_password)
        return httpx.Client(base_url=f"{self.admin_url}/api/v1", auth=auth, timeout=30)


@pytest.fixture(
    scope="module",
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ],
)
def directory(
    request: pytest.FixtureRequest, nats_server: NatsServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Directory]:
    data_dir = tmp_path_factory.mktemp("directory")
    if request.param == "sqlite":
        database_url = f"sqlite+aiosqlite:///{data_dir / 'directory.sqlite3'}"
        drop = None
    else:
        server = request.getfixturevalue("postgres")
        name = f"t_{uuid.uuid4().hex[:16]}"
        database_url = server.create_database(name)
        drop = lambda: server.drop_database(name)  # noqa: E731
    admin_port, ops_port = free_ports(2)
    process = ServiceProcess(
        "directory",
        env={
            "PARLEY_DATA_DIR": str(data_dir),
            "PARLEY_NATS_URL": nats_server.url,
            "PARLEY_DIRECTORY_DATABASE_URL": database_url,
            "PARLEY_DIRECTORY_ADMIN_PORT": str(admin_port),
            "PARLEY_DIRECTORY_OPS_PORT": str(ops_port),
            # Throttling is tested with its own small limits; keep the rest of the module clear of it.
            "PARLEY_DIRECTORY_AUTH_MAX_FAILURES_ACCOUNT": "5",
            "PARLEY_DIRECTORY_AUTH_MAX_FAILURES_CLIENT": "1000",
        },
        ops_port=ops_port,
        data_dir=data_dir,
    )
    process.start()
    credentials = json.loads((data_dir / "secrets" / "admin.json").read_text())
    try:
        yield Directory(
            process=process,
            admin_url=f"http://127.0.0.1:{admin_port}",
            nats_url=nats_server.url,
            admin_user=credentials["user"],
            admin_password=credentials["password"],
            data_dir=data_dir,
            database_url=database_url,
        )
    finally:
        process.stop()
        if drop is not None:
            drop()
