"""A real cdr process (with a real directory beside it) on its own nats-server, per test module,
once over SQLite and once over PostgreSQL.

The nats-server is the module's own: the stream `CDR` and the durable
consumer are shared by every test of the module, and no other test's calls
must reach them. Each test uses its own call-id prefix and domain.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import nats
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from libs.contracts import sip as contract
from libs.testing.natsd import NatsServer
from libs.testing.ports import free_ports
from libs.testing.services import ServiceProcess
from tests.storage.conftest import ADMIN_PASSWORD, start_directory

DOMAIN_ADMIN_PASSWORD = "domain-admin-secret"
BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]


@dataclass
class CdrSuite:
    nats: NatsServer
    admin_url: str
    api_url: str
    database_url: str
    file_dir: Path
    cdr: ServiceProcess

    def api(self, user: str = "admin", password: str = ADMIN_PASSWORD) -> httpx.Client:
        return httpx.Client(base_url=f"{self.api_url}/api/v1", auth=(user, password), timeout=30)

    def new_domain(self, users: Sequence[str] = ("alice", "bob"), *, admin: bool = False) -> str:
        """A fresh domain with these accounts (and `admin@domain`, a domain administrator, if asked)."""
        domain = f"d{uuid.uuid4().hex[:10]}.test"
        with httpx.Client(base_url=f"{self.admin_url}/api/v1", auth=("admin", ADMIN_PASSWORD), timeout=30) as c:
            assert c.post("/domains", json={"name": domain}).status_code == 201
            for user in users:
                assert c.post("/accounts", json={"address": f"{user}@{domain}"}).status_code == 201
            if admin:
                body = {"address": f"admin@{domain}", "password": DOMAIN_ADMIN_PASSWORD, "domain_admin": True}
                reply = c.post("/accounts", json=body)
                assert reply.status_code == 201, reply.text
        return domain

    async def publish(self, events: Sequence[contract.CallEvent]) -> None:
        nc = await nats.connect(self.nats.url)
        try:
            js = nc.jetstream()
            for event in events:
                await js.publish(event.subject(), event.model_dump_json().encode(), stream=contract.CDR_STREAM)
        finally:
            await nc.close()

    async def rows(self, prefix: str) -> list[dict[str, object]]:
        """The table's rows whose call-id starts with `prefix`, read directly (not through the API)."""
        engine = create_async_engine(self.database_url)
        try:
            async with engine.connect() as connection:
                result = await connection.execute(
                    text("select * from cdrs where call_id like :prefix order by call_id, leg"),
                    {"prefix": f"{prefix}%"},
                )
                return [dict(row._mapping) for row in result]
        finally:
            await engine.dispose()

    def file_lines(self, prefix: str) -> list[str]:
        return [
            line
            for path in sorted(self.file_dir.glob("cdr-*.log"))
            for line in path.read_text(encoding="utf-8").splitlines()
            if line.startswith(prefix)
        ]

    async def wait_final(self, prefix: str, count: int, timeout: float = 60.0) -> list[dict[str, object]]:
        deadline = time.monotonic() + timeout
        while True:
            rows = await self.rows(prefix)
            final = [row for row in rows if row["ended_at"] is not None and row["filed"]]
            if len(final) >= count or time.monotonic() > deadline:
                return rows
            await asyncio.sleep(0.2)


def start_cdr(
    data_dir: Path, nats_url: str, database_url: str, file_dir: Path, **env: str
) -> tuple[ServiceProcess, str]:
    api_port, ops_port = free_ports(2)
    process = ServiceProcess(
        "cdr",
        env={
            "PARLEY_DATA_DIR": str(data_dir),
            "PARLEY_NATS_URL": nats_url,
            "PARLEY_NODE_NAME": "cdr1",
            "PARLEY_LOG_FORMAT": "console",
            "PARLEY_CDR_DATABASE_URL": database_url,
            "PARLEY_CDR_API_PORT": str(api_port),
            "PARLEY_CDR_OPS_PORT": str(ops_port),
            "PARLEY_CDR_FILE_DIR": str(file_dir),
            "PARLEY_CDR_ACK_WAIT": "2",
            "PARLEY_CDR_AUTH_CACHE_SECONDS": "60",
            **env,
        },
        ops_port=ops_port,
        data_dir=data_dir,
    ).start()
    return process, f"http://127.0.0.1:{api_port}"


def database_for(kind: str, data_dir: Path, request: pytest.FixtureRequest) -> str:
    if kind == "sqlite":
        return f"sqlite+aiosqlite:///{data_dir / 'cdr.sqlite3'}"
    server = request.getfixturevalue("postgres")
    return server.create_database(f"t_{uuid.uuid4().hex[:16]}")


@pytest.fixture(scope="module", params=BACKENDS)
def cdr_suite(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CdrSuite]:
    data_dir = tmp_path_factory.mktemp("cdr")
    with NatsServer() as server:
        directory, admin_url = start_directory(data_dir / "directory", server.url)
        cdr = None
        try:
            database_url = database_for(request.param, data_dir, request)
            cdr, api_url = start_cdr(data_dir / "cdr", server.url, database_url, data_dir / "files")
            yield CdrSuite(server, admin_url, api_url, database_url, data_dir / "files", cdr)
        finally:
            if cdr is not None:
                cdr.stop()
            directory.stop()


def jsonl(text_: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text_.splitlines() if line]
