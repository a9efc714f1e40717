"""The POP3 service as a real process, with a real directory and storage beside it.

One set of processes per module, on free ports, sharing a local blob
directory, the way `parley up` runs them. Every test gets fresh accounts
(`pop3_suite.new_account()`), so no two tests share a maildrop or its lock.
Messages are delivered the way smtp delivers them: the blob is written to
the blob store, then `storage.rpc.deliver` files it into the INBOX.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from libs.blobs import LocalBlobStore
from libs.bus import Bus
from libs.contracts import storage as contract
from libs.testing.natsd import NatsServer
from libs.testing.ports import free_ports
from libs.testing.services import ServiceProcess
from tests.storage.conftest import ADMIN_PASSWORD, start_directory, start_storage

HOSTNAME = "pop.example.test"
PASSWORD = "correct horse battery staple"
PREAUTH_TIMEOUT = 3.0
LOGIN_TIMEOUT = 8.0
# The KV bucket's TTL is fixed by the first pop3 process that creates it, so
# every pop3 process of the test run uses the same value.
LOCK_TTL = 3.0


@dataclass
class Pop3Process:
    process: ServiceProcess
    port: int
    tls_port: int
    ops_port: int


@dataclass
class Pop3Suite:
    nats_url: str
    admin_url: str
    data_dir: Path
    blob_env: dict[str, str]
    pop3: Pop3Process
    extra: list[Pop3Process] = field(default_factory=list)

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    def admin(self) -> httpx.Client:
        return httpx.Client(base_url=f"{self.admin_url}/api/v1", auth=("admin", ADMIN_PASSWORD), timeout=30)

    def new_account(self, password: str = PASSWORD) -> str:
        domain = f"d{uuid.uuid4().hex[:10]}.test"
        with self.admin() as admin:
            assert admin.post("/domains", json={"name": domain}).status_code == 201
            reply = admin.post("/accounts", json={"address": f"user@{domain}", "password": password})
            assert reply.status_code == 201, reply.text
        return f"user@{domain}"

    def deliver(self, account: str, *messages: bytes) -> list[int]:
        """Store each message in the account's INBOX; their UIDs."""
        return asyncio.run(self._deliver(account, messages))

    async def _deliver(self, account: str, messages: tuple[bytes, ...]) -> list[int]:
        bus = await Bus.open(self.nats_url, name="pop3-tests")
        blobs = LocalBlobStore(self.blob_dir)
        uids = []
        try:
            for message in messages:
                ref = await blobs.put(message)
                request = contract.DeliverRequest(
                    blob=ref.digest, recipients=[contract.DeliveryTarget(account=account)]
                )
                reply = await bus.request(contract.RPC_DELIVER, request, contract.DeliverReply, timeout=30)
                assert reply.results[0].ok, reply
                uids.append(reply.results[0].uid)
        finally:
            await blobs.close()
            await bus.close()
        return uids

    def uids(self, account: str) -> tuple[int, list[int]]:
        """(UIDVALIDITY, UIDs) of the INBOX."""

        async def ask() -> contract.UidsReply:
            bus = await Bus.open(self.nats_url, name="pop3-tests")
            try:
                request = contract.UidsRequest(account=account, mailbox="INBOX")
                return await bus.request(contract.RPC_UIDS, request, contract.UidsReply)
            finally:
                await bus.close()

        reply = asyncio.run(ask())
        return reply.uidvalidity, reply.uids

    def flags(self, account: str) -> dict[int, list[str]]:
        async def ask() -> contract.FetchReply:
            bus = await Bus.open(self.nats_url, name="pop3-tests")
            try:
                request = contract.FetchRequest(
                    account=account, mailbox="INBOX", uids=[contract.UidRange(first=1)], items=["flags"]
                )
                return await bus.request(contract.RPC_FETCH, request, contract.FetchReply)
            finally:
                await bus.close()

        return {m.uid: list(m.flags or []) for m in asyncio.run(ask()).messages}

    def store_flags(self, account: str, uid: int, flag: str) -> None:
        async def ask() -> None:
            bus = await Bus.open(self.nats_url, name="pop3-tests")
            try:
                request = contract.StoreFlagsRequest(
                    account=account, mailbox="INBOX", uids=[contract.UidRange(first=uid, last=uid)], mode="add",
                    flags=[flag],
                )  # fmt: skip
                await bus.request(contract.RPC_STORE_FLAGS, request, contract.StoreFlagsReply)
            finally:
                await bus.close()

        asyncio.run(ask())

    def start_pop3(self, name: str = "pop3") -> Pop3Process:
        """Another pop3 process (a replica) against the same bus, directory and storage."""
        process = start_pop3(self.data_dir / name, self.nats_url, self.blob_env)
        self.extra.append(process)
        return process


def start_pop3(data_dir: Path, nats_url: str, blob_env: dict[str, str]) -> Pop3Process:
    port, tls_port, ops = free_ports(3)
    process = ServiceProcess(
        "pop3",
        env={
            "PARLEY_DATA_DIR": str(data_dir),
            "PARLEY_NATS_URL": nats_url,
            "PARLEY_LOG_FORMAT": "console",
            "PARLEY_POP3_POP3_PORT": str(port),
            "PARLEY_POP3_POP3S_PORT": str(tls_port),
            "PARLEY_POP3_OPS_PORT": str(ops),
            "PARLEY_POP3_HOSTNAME": HOSTNAME,
            "PARLEY_POP3_PREAUTH_TIMEOUT": str(PREAUTH_TIMEOUT),
            "PARLEY_POP3_LOGIN_TIMEOUT": str(LOGIN_TIMEOUT),
            "PARLEY_POP3_LOCK_TTL": str(LOCK_TTL),
            **blob_env,
        },
        ops_port=ops,
        data_dir=data_dir,
    ).start()
    return Pop3Process(process, port, tls_port, ops)


@pytest.fixture(scope="module")
def pop3_suite(nats_server: NatsServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pop3Suite]:
    data_dir = tmp_path_factory.mktemp("pop3")
    blob_env = {"PARLEY_BLOB_BACKEND": "local", "PARLEY_BLOB_LOCAL_DIR": str(data_dir / "blobs")}
    directory, admin_url = start_directory(data_dir / "directory", nats_server.url)
    processes = [directory]
    suite = None
    try:
        processes.append(
            start_storage(data_dir, nats_server.url, f"sqlite+aiosqlite:///{data_dir / 'storage.sqlite3'}", blob_env)
        )
        pop3 = start_pop3(data_dir / "pop3", nats_server.url, blob_env)
        processes.append(pop3.process)
        suite = Pop3Suite(
            nats_url=nats_server.url, admin_url=admin_url, data_dir=data_dir, blob_env=blob_env, pop3=pop3
        )
        yield suite
    finally:
        for extra in suite.extra if suite else []:
            extra.process.stop()
        for process in reversed(processes):
            process.stop()
