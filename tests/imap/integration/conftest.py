"""The IMAP service as a real process, with a real directory and storage beside it.

One set of processes per module, on free ports, sharing a local blob
directory, the way `parley up` runs them. Accounts live in `example.test`:
alice and carol with a password, and bob, whose quota is tiny.
"""

from __future__ import annotations

import asyncio
import imaplib
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
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

DOMAIN = "example.test"
HOSTNAME = "imap.example.test"
PASSWORD = "correct horse battery staple"
ALICE = f"alice@{DOMAIN}"
BOB = f"bob@{DOMAIN}"
CAROL = f"carol@{DOMAIN}"
APPEND_LIMIT = 1024 * 1024
PREAUTH_TIMEOUT = 5.0


@dataclass
class ImapSuite:
    nats_url: str
    admin_url: str
    blob_dir: Path
    imap: ServiceProcess
    port: int
    tls_port: int
    ops_port: int

    def admin(self) -> httpx.Client:
        return httpx.Client(base_url=f"{self.admin_url}/api/v1", auth=("admin", ADMIN_PASSWORD), timeout=30)

    def client(self, user: str = ALICE) -> imaplib.IMAP4_SSL:
        """A logged-in client over implicit TLS."""
        client = imaplib.IMAP4_SSL("127.0.0.1", self.tls_port, ssl_context=insecure_context(), timeout=10)
        client.login(user, PASSWORD)
        return client

    def deliver(self, raw: bytes, *, account: str = ALICE, mailbox: str = "INBOX") -> int:
        """Store a message the way SMTP does (blob, then storage.rpc.deliver); answers its UID."""
        return asyncio.run(self._deliver(raw, account, mailbox))

    async def _deliver(self, raw: bytes, account: str, mailbox: str) -> int:
        bus = await Bus.open(self.nats_url, name="imap-tests")
        blobs = LocalBlobStore(self.blob_dir)
        try:
            ref = await blobs.put(raw)
            request = contract.DeliverRequest(
                blob=ref.digest,
                recipients=[contract.DeliveryTarget(account=account, mailbox=mailbox)],
                internal_date=datetime.now(UTC),
            )
            reply = await bus.request(contract.RPC_DELIVER, request, contract.DeliverReply, timeout=30)
            result = reply.results[0]
            assert result.ok, result
            assert result.uid is not None
            return result.uid
        finally:
            await blobs.close()
            await bus.close()

    def stored(self, account: str, mailbox: str = "INBOX") -> dict[int, bytes]:
        """Every message of a mailbox as stored bytes, by UID."""
        return asyncio.run(self._stored(account, mailbox))

    async def _stored(self, account: str, mailbox: str) -> dict[int, bytes]:
        bus = await Bus.open(self.nats_url, name="imap-tests")
        blobs = LocalBlobStore(self.blob_dir)
        try:
            uids = await bus.request(
                contract.RPC_UIDS, contract.UidsRequest(account=account, mailbox=mailbox), contract.UidsReply
            )
            if not uids.uids:
                return {}
            request = contract.FetchRequest(
                account=account, mailbox=mailbox, uids=[contract.UidRange(first=1)], items=["blob", "flags"]
            )
            reply = await bus.request(contract.RPC_FETCH, request, contract.FetchReply)
            return {m.uid: await blobs.get(m.blob) for m in reply.messages if m.blob}
        finally:
            await blobs.close()
            await bus.close()


def insecure_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _provision(admin: httpx.Client) -> None:
    assert admin.post("/domains", json={"name": DOMAIN}).status_code == 201
    for body in (
        {"address": ALICE, "password": PASSWORD},
        {"address": BOB, "password": PASSWORD, "quota_bytes": 2048},
        {"address": CAROL, "password": PASSWORD},
    ):
        reply = admin.post("/accounts", json=body)
        assert reply.status_code == 201, reply.text


def start_imap(
    data_dir: Path, nats_url: str, blob_env: dict[str, str], **extra: str
) -> tuple[ServiceProcess, int, int, int]:
    port, tls_port, ops = free_ports(3)
    process = ServiceProcess(
        "imap",
        env={
            "PARLEY_DATA_DIR": str(data_dir),
            "PARLEY_NATS_URL": nats_url,
            "PARLEY_LOG_FORMAT": "console",
            "PARLEY_IMAP_PORT": str(port),
            "PARLEY_IMAP_TLS_PORT": str(tls_port),
            "PARLEY_IMAP_OPS_PORT": str(ops),
            "PARLEY_IMAP_HOSTNAME": HOSTNAME,
            "PARLEY_IMAP_APPEND_LIMIT": str(APPEND_LIMIT),
            "PARLEY_IMAP_PREAUTH_TIMEOUT": str(PREAUTH_TIMEOUT),
            **blob_env,
            **extra,
        },
        ops_port=ops,
        data_dir=data_dir,
    ).start()
    return process, port, tls_port, ops


@pytest.fixture(scope="module")
def imap_suite(nats_server: NatsServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ImapSuite]:
    data_dir = tmp_path_factory.mktemp("imap")
    blob_dir = data_dir / "blobs"
    blob_env = {"PARLEY_BLOB_BACKEND": "local", "PARLEY_BLOB_LOCAL_DIR": str(blob_dir)}
    directory, admin_url = start_directory(data_dir / "directory", nats_server.url)
    processes = [directory]
    try:
        processes.append(
            start_storage(data_dir, nats_server.url, f"sqlite+aiosqlite:///{data_dir / 'storage.sqlite3'}", blob_env)
        )
        imap, port, tls_port, ops = start_imap(data_dir, nats_server.url, blob_env)
        processes.append(imap)
        suite = ImapSuite(nats_server.url, admin_url, blob_dir, imap, port, tls_port, ops)
        with suite.admin() as admin:
            _provision(admin)
        yield suite
    finally:
        for process in reversed(processes):
            process.stop()


class RawClient:
    """A scripted IMAP dialogue over TLS: `command("a1 NOOP")` answers every line up to the tagged one."""

    def __init__(self, port: int, *, tls: bool = True, timeout: float = 10.0) -> None:
        import socket

        sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock = insecure_context().wrap_socket(sock) if tls else sock
        self.buffer = b""
        self.greeting = self.line()

    def line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def until_tagged(self, tag: bytes) -> list[bytes]:
        lines = []
        while True:
            line = self.line()
            lines.append(line)
            if line.startswith(tag + b" "):
                return lines

    def command(self, text: str | bytes) -> list[bytes]:
        data = text.encode() if isinstance(text, str) else text
        tag = data.split(b" ", 1)[0]
        self.send(data + b"\r\n")
        return self.until_tagged(tag)

    def login(self, user: str = ALICE) -> None:
        assert self.command(f'l1 LOGIN {user} "{PASSWORD}"')[-1].startswith(b"l1 OK")

    def close(self) -> None:
        self.sock.close()
