"""mbsync (isync), a mail client users run, syncing alice's account both ways against `parley up`.

The suite runs directory, storage and imap as `parley up` supervises them.
A message delivered on the server appears in the local Maildir; a flag set
and a message deleted locally reach the server.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from libs.blobs import LocalBlobStore
from libs.bus import Bus
from libs.contracts import storage
from libs.testing.ports import free_ports
from libs.testing.suite import RunningSuite, start_suite, stop_suite

pytestmark = pytest.mark.timeout(240)

ALICE = "alice@example.test"
PASSWORD = "s3cret pass"


@pytest.fixture(scope="module")
def imap_suite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningSuite, int]]:
    imap_port, imaps_port = free_ports(2)
    env = {"PARLEY_IMAP_PORT": str(imap_port), "PARLEY_IMAP_TLS_PORT": str(imaps_port)}
    running = start_suite(tmp_path_factory.mktemp("mbsync"), services="directory,storage,imap", env=env)
    try:
        yield running, imaps_port
    finally:
        stop_suite(running)
        print(running.log()[-10_000:])


def parley(suite: RunningSuite, *args: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).parent / "parley"
    return subprocess.run([str(script), *args], env=suite.env, capture_output=True, text=True, timeout=60)


async def _deliver(suite: RunningSuite, raw: bytes) -> int:
    blobs = LocalBlobStore(suite.data_dir / "blobs")
    bus = await Bus.open(suite.env["PARLEY_NATS_URL"], name="e2e")
    try:
        ref = await blobs.put(raw)
        request = storage.DeliverRequest(blob=ref.digest, recipients=[storage.DeliveryTarget(account=ALICE)])
        reply = await bus.request(storage.RPC_DELIVER, request, storage.DeliverReply, timeout=30)
    finally:
        await bus.close()
        await blobs.close()
    assert reply.results[0].ok and reply.results[0].uid
    return reply.results[0].uid


async def _server_flags(suite: RunningSuite) -> dict[int, list[str]]:
    bus = await Bus.open(suite.env["PARLEY_NATS_URL"], name="e2e")
    try:
        request = storage.FetchRequest(account=ALICE, mailbox="INBOX", uids=[storage.UidRange(first=1)])
        reply = await bus.request(storage.RPC_FETCH, request, storage.FetchReply)
    finally:
        await bus.close()
    return {m.uid: list(m.flags or []) for m in reply.messages}


def message(subject: str) -> bytes:
    return (
        f"From: bob@example.org\r\nTo: {ALICE}\r\nSubject: {subject}\r\n"
        f"Message-ID: <{subject.replace(' ', '-')}@example.org>\r\n\r\nHello from the server: {subject}\r\n"
    ).encode()


def write_config(path: Path, *, port: int, maildir: Path, cert: Path) -> None:
    path.write_text(
        f"""IMAPAccount parley
Host 127.0.0.1
Port {port}
User {ALICE}
Pass "{PASSWORD}"
SSLType IMAPS
CertificateFile {cert}

IMAPStore remote
Account parley

MaildirStore local
Path {maildir}/
Inbox {maildir}/INBOX
SubFolders Verbatim

Channel parley
Far :remote:
Near :local:
Patterns INBOX
Create Both
Expunge Both
SyncState *
"""
    )


def sync(config: Path) -> None:
    result = subprocess.run(["mbsync", "-c", str(config), "-a"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def local_messages(maildir: Path) -> list[Path]:
    return sorted(p for sub in ("new", "cur") for p in (maildir / "INBOX" / sub).glob("*"))


def test_mbsync_syncs_both_ways(imap_suite: tuple[RunningSuite, int], tmp_path: Path) -> None:
    suite, port = imap_suite
    assert parley(suite, "admin", "domain", "create", "example.test").returncode == 0
    assert parley(suite, "admin", "account", "create", ALICE, "--password", PASSWORD).returncode == 0
    first = asyncio.run(_deliver(suite, message("first")))
    second = asyncio.run(_deliver(suite, message("second")))
    maildir = tmp_path / "Mail"
    maildir.mkdir()
    config = tmp_path / "mbsyncrc"
    write_config(config, port=port, maildir=maildir, cert=suite.data_dir / "tls" / "cert.pem")

    sync(config)
    assert len(local_messages(maildir)) == 2

    # A new message on the server appears locally.
    asyncio.run(_deliver(suite, message("third")))
    sync(config)
    files = local_messages(maildir)
    assert len(files) == 3
    assert any(b"Hello from the server: third" in f.read_bytes() for f in files)

    # A local flag change and a local deletion reach the server.
    by_subject = {next(s for s in ("first", "second", "third") if f"Subject: {s}".encode() in f.read_bytes()): f
                  for f in files}  # fmt: skip
    flagged = by_subject["first"]
    info = flagged.name.split(":2,")[1] if ":2," in flagged.name else ""
    base = flagged.name.split(":2,")[0]
    flagged.rename(maildir / "INBOX" / "cur" / f"{base}:2,{''.join(sorted(set(info) | {'F', 'S'}))}")
    by_subject["second"].unlink()
    sync(config)

    flags = asyncio.run(_server_flags(suite))
    assert "\\Flagged" in flags[first] and "\\Seen" in flags[first]
    assert second not in flags
    assert len(flags) == 2
