"""The SIP service as real processes, with a real directory beside it.

One directory and one sip process per module (plus replicas on demand), on
free ports, the way `parley up` runs them. Accounts live in fresh domains:
`sip_suite.new_domain()` provisions alice, bob and carol with PASSWORD.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from libs.testing.natsd import NatsServer
from libs.testing.ports import free_ports
from libs.testing.services import ServiceProcess
from tests.storage.conftest import ADMIN_PASSWORD, start_directory

PASSWORD = "correct horse battery staple"
USERS = ("alice", "bob", "carol")


@dataclass
class SipProcess:
    process: ServiceProcess
    port: int  # UDP and TCP
    tls_port: int
    ops_port: int
    ws_port: int


@dataclass
class SipSuite:
    nats_url: str
    admin_url: str
    data_dir: Path
    sip: SipProcess
    extra: list[SipProcess] = field(default_factory=list)

    def admin(self) -> httpx.Client:
        return httpx.Client(base_url=f"{self.admin_url}/api/v1", auth=("admin", ADMIN_PASSWORD), timeout=30)

    def new_domain(self, password: str = PASSWORD) -> str:
        domain = f"d{uuid.uuid4().hex[:10]}.test"
        with self.admin() as admin:
            assert admin.post("/domains", json={"name": domain}).status_code == 201
            for user in USERS:
                reply = admin.post("/accounts", json={"address": f"{user}@{domain}", "password": password})
                assert reply.status_code == 201, reply.text
        return domain

    def start_sip(self, name: str, **env: str) -> SipProcess:
        process = start_sip(self.data_dir / name, self.nats_url, env)
        self.extra.append(process)
        return process


def start_sip(data_dir: Path, nats_url: str, env: dict[str, str] | None = None) -> SipProcess:
    # UDP and TCP share the port number; free_ports checks TCP, so also bind UDP to be sure.
    port, tls_port, ops, ws = free_ports(4)
    process = ServiceProcess(
        "sip",
        env={
            "PARLEY_DATA_DIR": str(data_dir),
            "PARLEY_NATS_URL": nats_url,
            "PARLEY_LOG_FORMAT": "console",
            "PARLEY_NODE_NAME": data_dir.name,
            "PARLEY_SIP_UDP_PORT": str(port),
            "PARLEY_SIP_TCP_PORT": str(port),
            "PARLEY_SIP_TLS_PORT": str(tls_port),
            "PARLEY_SIP_OPS_PORT": str(ops),
            "PARLEY_SIP_WS_PORT": str(ws),
            "PARLEY_SIP_MIN_EXPIRES": "30",
            **(env or {}),
        },
        ops_port=ops,
        data_dir=data_dir,
    ).start()
    return SipProcess(process, port, tls_port, ops, ws)


@pytest.fixture(scope="module")
def sip_suite(
    request: pytest.FixtureRequest, nats_server: NatsServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SipSuite]:
    """The suite; a test module may set `SIP_ENV` (a dict) to add or change settings of the sip process."""
    data_dir = tmp_path_factory.mktemp("sip")
    directory, admin_url = start_directory(data_dir / "directory", nats_server.url)
    suite = None
    try:
        sip = start_sip(data_dir / "sip1", nats_server.url, getattr(request.module, "SIP_ENV", {}))
        suite = SipSuite(nats_url=nats_server.url, admin_url=admin_url, data_dir=data_dir, sip=sip)
        yield suite
    finally:
        if suite is not None:
            for extra in suite.extra:
                extra.process.stop()
            suite.sip.process.stop()
        directory.stop()
