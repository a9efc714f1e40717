"""Suite-wide fixtures: a real nats-server, PostgreSQL, fresh databases, data dirs.

Servers are session-scoped because starting them costs more than most
tests; tests that need to stop or crash a server take their own from
`nats_server_factory` instead of disturbing the shared one. PostgreSQL is
started only when some selected test asks for it, so `pytest -m "not
postgres"` runs without it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from libs.testing.natsd import NatsServer
from libs.testing.postgres import PostgresServer, external_url_from, start_postgres

DATABASE_BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that uses the `postgres` fixture, so `-m "not postgres"` skips it."""
    for item in items:
        if "postgres" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.postgres)


@pytest.fixture(scope="session")
def nats_server() -> Iterator[NatsServer]:
    """One nats-server with JetStream shared by the whole session; do not stop it."""
    with NatsServer() as server:
        yield server


@pytest.fixture
def nats_server_factory() -> Iterator[Callable[..., NatsServer]]:
    """Start private nats-servers (to restart or kill); all closed after the test."""
    servers: list[NatsServer] = []

    def start(*, port: int | None = None, jetstream: bool = True) -> NatsServer:
        server = NatsServer(port=port, jetstream=jetstream)
        servers.append(server)
        return server.start()

    yield start
    for server in reversed(servers):
        server.close()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the session: PARLEY_TEST_POSTGRES_URL's, or a local one."""
    server = start_postgres(external_url=external_url_from(os.environ))
    try:
        yield server
    finally:
        server.close()


def _fresh_database_name() -> str:
    return f"t_{uuid.uuid4().hex[:16]}"


@pytest.fixture(params=DATABASE_BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database per test, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'parley.db'}"
        return
    # Looked up here rather than declared as an argument, so the SQLite half
    # of the suite never starts PostgreSQL.
    server: PostgresServer = request.getfixturevalue("postgres")
    name = _fresh_database_name()
    url = server.create_database(name)
    try:
        yield url
    finally:
        server.drop_database(name)


@pytest.fixture
def tmp_data_dir(tmp_path: Path) -> Path:
    """An empty directory to use as a service's data dir (never ./var)."""
    path = tmp_path / "data"
    path.mkdir()
    return path
