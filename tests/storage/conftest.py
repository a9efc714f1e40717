"""A real storage process (with the directory beside it) per test module,
over each database and each blob backend."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from libs.testing.natsd import NatsServer
from libs.testing.ports import free_ports
from libs.testing.s3 import MotoS3Server
from libs.testing.services import ServiceProcess

ADMIN_PASSWORD = "storage-tests"


@dataclass
class StorageSuite:
    nats_url: str
    blob_env: dict[str, str]
    storage: ServiceProcess
    directory: ServiceProcess
    admin_url: str
    database: str
    backend: str
    data_dir: Path
    extra: dict[str, object] = field(default_factory=dict)

    def admin(self) -> httpx.Client:
        return httpx.Client(base_url=f"{self.admin_url}/api/v1", auth=("admin", ADMIN_PASSWORD), timeout=30)

    def new_account(self, *, quota_bytes: int | None = None, quota_messages: int | None = None) -> str:
        """A fresh account in a fresh domain (so tests never share a mailbox)."""
        domain = f"d{uuid.uuid4().hex[:10]}.test"
        with self.admin() as c:
            assert c.post("/domains", json={"name": domain}).status_code == 201
            body = {"address": f"user@{domain}", "quota_bytes": quota_bytes, "quota_messages": quota_messages}
            reply = c.post("/accounts", json=body)
            assert reply.status_code == 201, reply.text
        return f"user@{domain}"


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[MotoS3Server]:
    server = MotoS3Server().start()
    try:
        yield server
    finally:
        server.close()


BACKENDS = [
    pytest.param(("sqlite", "local"), id="sqlite-local"),
    pytest.param(("postgresql", "local"), id="postgresql-local", marks=pytest.mark.postgres),
    pytest.param(("postgresql", "s3"), id="postgresql-s3", marks=pytest.mark.postgres),
]


def blob_env_for(backend: str, data_dir: Path, request: pytest.FixtureRequest) -> dict[str, str]:
    if backend == "local":
        return {"PARLEY_BLOB_BACKEND": "local", "PARLEY_BLOB_LOCAL_DIR": str(data_dir / "blobs")}
    s3: MotoS3Server = request.getfixturevalue("moto_s3")
    return {
        "PARLEY_BLOB_BACKEND": "s3",
        "PARLEY_BLOB_S3_ENDPOINT_URL": s3.endpoint_url,
        "PARLEY_BLOB_S3_BUCKET": f"b{uuid.uuid4().hex[:12]}",
        "PARLEY_BLOB_S3_ACCESS_KEY": s3.access_key,
        "PARLEY_BLOB_S3_SECRET_KEY": s3.secret_key,
        "PARLEY_BLOB_S3_REGION": s3.region,
        "PARLEY_BLOB_S3_CREATE_BUCKET": "true",
    }


def database_for(kind: str, data_dir: Path, request: pytest.FixtureRequest) -> str:
    if kind == "sqlite":
        return f"sqlite+aiosqlite:///{data_dir / 'storage.sqlite3'}"
    server = request.getfixturevalue("postgres")
    return server.create_database(f"t_{uuid.uuid4().hex[:16]}")


def start_storage(
    data_dir: Path, nats_url: str, database_url: str, blob_env: dict[str, str], **extra_env: str
) -> ServiceProcess:
    (ops_port,) = free_ports(1)
    return ServiceProcess(
        "storage",
        env={
            "PARLEY_DATA_DIR": str(data_dir),
            "PARLEY_NATS_URL": nats_url,
            "PARLEY_STORAGE_DATABASE_URL": database_url,
            "PARLEY_STORAGE_OPS_PORT": str(ops_port),
            "PARLEY_STORAGE_GC_INTERVAL": "0",
            "PARLEY_STORAGE_QUOTA_CACHE_SECONDS": "0",
            **blob_env,
            **extra_env,
        },
        ops_port=ops_port,
        data_dir=data_dir,
    ).start()


def start_directory(data_dir: Path, nats_url: str) -> tuple[ServiceProcess, str]:
    admin_port, ops_port = free_ports(2)
    process = ServiceProcess(
        "directory",
        env={
            "PARLEY_DATA_DIR": str(data_dir),
            "PARLEY_NATS_URL": nats_url,
            "PARLEY_DIRECTORY_DATABASE_URL": f"sqlite+aiosqlite:///{data_dir / 'directory.sqlite3'}",
            "PARLEY_DIRECTORY_ADMIN_PORT": str(admin_port),
            "PARLEY_DIRECTORY_OPS_PORT": str(ops_port),
            "PARLEY_DIRECTORY_ADMIN_PASSWORD": ADMIN_PASSWORD,
        },
        ops_port=ops_port,
        data_dir=data_dir,
    ).start()
    return process, f"http://127.0.0.1:{admin_port}"


@pytest.fixture(scope="module", params=BACKENDS)
def suite(
    request: pytest.FixtureRequest, nats_server: NatsServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[StorageSuite]:
    database_kind, backend = request.param
    data_dir = tmp_path_factory.mktemp("storage")
    blob_env = blob_env_for(backend, data_dir, request)
    database_url = database_for(database_kind, data_dir, request)
    directory, admin_url = start_directory(data_dir / "directory", nats_server.url)
    storage = None
    try:
        storage = start_storage(data_dir, nats_server.url, database_url, blob_env)
        yield StorageSuite(
            nats_url=nats_server.url,
            blob_env=blob_env,
            storage=storage,
            directory=directory,
            admin_url=admin_url,
            database=database_url,
            backend=backend,
            data_dir=data_dir,
        )
    finally:
        if storage is not None:
            storage.stop()
        directory.stop()


def digest_of(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()
