"""The SMTP service as a real process, with a real directory and storage beside it.

One set of processes per module, on free ports, sharing a local blob
directory, the way `parley up` runs them. Accounts live in `example.test`:
alice and carol (with a password, for submission), and bob, whose quota is
tiny so that his deliveries fail.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from libs.blobs import LocalBlobStore
from libs.bus import Bus
from libs.contracts import storage as contract
from libs.testing.dnsserver import DnsServer
from libs.testing.natsd import NatsServer
from libs.testing.ports import free_ports
from libs.testing.services import ServiceProcess
from tests.storage.conftest import ADMIN_PASSWORD, start_directory, start_storage

DOMAIN = "example.test"
HOSTNAME = "mx.example.test"
PASSWORD = "correct horse battery staple"
COMMAND_TIMEOUT = 4.0
MAX_CONNECTIONS_PER_CLIENT = 10


@dataclass
class SmtpSuite:
    nats_url: str
    admin_url: str
    blob_dir: Path
    smtp: ServiceProcess
    mx_port: int
    submission_port: int
    submissions_port: int
    lmtp_port: int
    ops_port: int
    dns: DnsServer

    def admin(self) -> httpx.Client:
        return httpx.Client(base_url=f"{self.admin_url}/api/v1", auth=("admin", ADMIN_PASSWORD), timeout=30)

    def inbox(self, account: str) -> list[bytes]:
        """Every message in the account's INBOX, as stored bytes, in UID order."""
        return asyncio.run(self._inbox(account))

    async def _inbox(self, account: str) -> list[bytes]:
        bus = await Bus.open(self.nats_url, name="smtp-tests")
        blobs = LocalBlobStore(self.blob_dir)
        try:
            uids = await bus.request(
                contract.RPC_UIDS, contract.UidsRequest(account=account, mailbox="INBOX"), contract.UidsReply
            )
            if not uids.uids:
                return []
            request = contract.FetchRequest(
                account=account, mailbox="INBOX", uids=[contract.UidRange(first=1)], items=["blob"]
            )
            reply = await bus.request(contract.RPC_FETCH, request, contract.FetchReply)
            return [await blobs.get(m.blob) for m in reply.messages if m.blob]
        finally:
            await blobs.close()
            await bus.close()


def _provision(admin: httpx.Client) -> None:
    assert admin.post("/domains", json={"name": DOMAIN}).status_code == 201
    accounts = [
        {"address": f"alice@{DOMAIN}", "password": PASSWORD},
        {"address": f"bob@{DOMAIN}", "password": PASSWORD, "quota_bytes": 10},
        {"address": f"carol@{DOMAIN}", "password": PASSWORD},
        {"address": f"dave@{DOMAIN}", "password": PASSWORD, "quota_messages": 0},
    ]
    for body in accounts:
        reply = admin.post("/accounts", json=body)
        assert reply.status_code == 201, reply.text


@pytest.fixture(scope="module")
def smtp_suite(
    request: pytest.FixtureRequest, nats_server: NatsServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SmtpSuite]:
    """The suite; a test module may set `SMTP_ENV` (a dict) to add or change settings of the smtp process."""
    data_dir = tmp_path_factory.mktemp("smtp")
    blob_dir = data_dir / "blobs"
    blob_env = {"PARLEY_BLOB_BACKEND": "local", "PARLEY_BLOB_LOCAL_DIR": str(blob_dir)}
    directory, admin_url = start_directory(data_dir / "directory", nats_server.url)
    processes = [directory]
    # SPF and DKIM ask this server only: no lookup ever leaves the machine.
    dns_server = DnsServer().start()
    try:
        processes.append(
            start_storage(data_dir, nats_server.url, f"sqlite+aiosqlite:///{data_dir / 'storage.sqlite3'}", blob_env)
        )
        mx, submission, submissions, lmtp, ops = free_ports(5)
        smtp = ServiceProcess(
            "smtp",
            env={
                "PARLEY_DATA_DIR": str(data_dir),
                "PARLEY_NATS_URL": nats_server.url,
                "PARLEY_LOG_FORMAT": "console",
                "PARLEY_SMTP_MX_PORT": str(mx),
                "PARLEY_SMTP_SUBMISSION_PORT": str(submission),
                "PARLEY_SMTP_SUBMISSIONS_PORT": str(submissions),
                "PARLEY_SMTP_LMTP_PORT": str(lmtp),
                "PARLEY_SMTP_OPS_PORT": str(ops),
                "PARLEY_SMTP_HOSTNAME": HOSTNAME,
                "PARLEY_SMTP_COMMAND_TIMEOUT": str(COMMAND_TIMEOUT),
                "PARLEY_SMTP_MAX_CONNECTIONS_PER_CLIENT": str(MAX_CONNECTIONS_PER_CLIENT),
                "PARLEY_SMTP_DNS_SERVERS": dns_server.address,
                **blob_env,
                **getattr(request.module, "SMTP_ENV", {}),
            },
            ops_port=ops,
            data_dir=data_dir,
        ).start()
        processes.append(smtp)
        suite = SmtpSuite(
            nats_url=nats_server.url, admin_url=admin_url, blob_dir=blob_dir, smtp=smtp, mx_port=mx,
            submission_port=submission, submissions_port=submissions, lmtp_port=lmtp, ops_port=ops, dns=dns_server,
        )  # fmt: skip
        with suite.admin() as admin:
            _provision(admin)
        yield suite
    finally:
        for process in reversed(processes):
            process.stop()
        dns_server.stop()
