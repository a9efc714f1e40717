"""The README's first steps, as a user types them: `parley up`, then `parley admin ...`."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from libs.blobs import LocalBlobStore
from libs.bus import Bus
from libs.contracts import directory as contract
from libs.contracts import storage
from libs.testing.suite import RunningSuite, start_suite, stop_suite

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSuite]:
    running = start_suite(tmp_path_factory.mktemp("suite"))
    try:
        yield running
    finally:
        stop_suite(running)
        print(running.log()[-10_000:])


def parley(suite: RunningSuite, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """The installed `parley` command, with only the data dir telling it where the suite is."""
    script = Path(sys.executable).parent / "parley"
    return subprocess.run([str(script), *args], env=suite.env, input=stdin, capture_output=True, text=True, timeout=60)


def test_readme_first_steps(suite: RunningSuite) -> None:
    created = parley(suite, "admin", "domain", "create", "example.test")
    assert created.returncode == 0, created.stderr
    account = parley(suite, "admin", "account", "create", "alice@example.test", "--password", "s3cret")
    assert account.returncode == 0, account.stderr
    listed = parley(suite, "admin", "account", "list", "example.test", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [a["address"] for a in json.loads(listed.stdout)] == ["alice@example.test"]


def test_every_object_through_the_cli(suite: RunningSuite) -> None:
    steps = [
        ("admin", "domain", "create", "corp.test", "--alias", "corp.example"),
        ("admin", "account", "create", "bob@corp.test", "--password", "pw", "--real-name", "Bob"),
        ("admin", "account", "set", "bob@corp.test", "--quota-bytes", "1000000"),
        ("admin", "account", "settings", "set", "bob@corp.test", "sent_copy", "true"),
        ("admin", "alias", "create", "robert@corp.test", "bob@corp.test"),
        ("admin", "account", "create", "rob@corp.test"),
        ("admin", "alias", "set", "robert@corp.test", "rob@corp.test"),
        ("admin", "alias", "set", "robert@corp.test", "bob@corp.test"),
        ("admin", "forwarder", "create", "out@corp.test", "someone@elsewhere.test"),
        ("admin", "group", "create", "all@corp.test", "--member", "robert@corp.test", "--member", "out@corp.test"),
    ]
    for step in steps:
        result = parley(suite, *step)
        assert result.returncode == 0, (step, result.stderr)
    resolved = json.loads(parley(suite, "admin", "resolve", "ALL@corp.example", "--json").stdout)
    assert resolved["accounts"] == ["bob@corp.test"] and resolved["remote"] == ["someone@elsewhere.test"]
    shown = json.loads(parley(suite, "admin", "account", "show", "bob@corp.test", "--json").stdout)
    assert shown["quota_bytes"] == 1_000_000 and shown["settings"] == {"sent_copy": True}


def test_cli_errors_are_clear(suite: RunningSuite) -> None:
    duplicate = parley(suite, "admin", "domain", "create", "dup.test")
    assert duplicate.returncode == 0
    again = parley(suite, "admin", "domain", "create", "dup.test")
    assert again.returncode == 1 and "already" in again.stderr and "Traceback" not in again.stderr
    unknown = parley(suite, "admin", "account", "create", "x@unknown.test", "--password", "pw")
    assert unknown.returncode == 1 and "unknown.test" in unknown.stderr
    invalid = parley(suite, "admin", "account", "create", "not-an-address", "--password", "pw")
    assert invalid.returncode == 1 and "Traceback" not in invalid.stderr


async def test_accounts_made_by_the_cli_log_in_over_the_bus(suite: RunningSuite) -> None:
    assert parley(suite, "admin", "domain", "create", "login.test").returncode == 0
    assert (
        parley(suite, "admin", "account", "create", "carol@login.test", "--password-stdin", stdin="pa ss\n").returncode
        == 0
    )
    bus = await Bus.open(suite.env["PARLEY_NATS_URL"], name="e2e")
    try:
        reply = await bus.request(
            contract.RPC_AUTH,
            contract.AuthRequest(mechanism="PLAIN", username="carol@login.test", password="pa ss"),
            contract.AuthReply,
        )
    finally:
        await bus.close()
    assert reply.ok and reply.account == "carol@login.test"


@pytest.fixture(scope="module")
def mail_suite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSuite]:
    running = start_suite(tmp_path_factory.mktemp("mail-suite"), services="directory,storage")
    try:
        yield running
    finally:
        stop_suite(running)
        print(running.log()[-10_000:])


async def test_an_account_made_by_the_cli_receives_mail(mail_suite: RunningSuite) -> None:
    """The directory announces the account, storage gives it mailboxes, a delivery lands in INBOX."""
    assert parley(mail_suite, "admin", "domain", "create", "mail.test").returncode == 0
    assert parley(mail_suite, "admin", "account", "create", "dan@mail.test", "--password", "pw").returncode == 0
    blobs = LocalBlobStore(mail_suite.data_dir / "blobs")  # the embedded default every service shares
    bus = await Bus.open(mail_suite.env["PARLEY_NATS_URL"], name="e2e")
    try:
        ref = await blobs.put(b"From: x@example.net\r\nSubject: welcome\r\n\r\nhello dan\r\n")
        reply = await bus.request(
            storage.RPC_DELIVER,
            storage.DeliverRequest(blob=ref.digest, recipients=[storage.DeliveryTarget(account="dan@mail.test")]),
            storage.DeliverReply,
        )
        assert reply.results[0].ok
        boxes = await bus.request(
            storage.RPC_MAILBOX_LIST,
            storage.MailboxListRequest(account="dan@mail.test", with_counts=True),
            storage.MailboxListReply,
        )
    finally:
        await bus.close()
        await blobs.close()
    counts = {m.name: m.messages for m in boxes.mailboxes}
    assert counts["INBOX"] == 1 and "Sent" in counts
    status = parley(mail_suite, "status", "--services", "directory,storage")
    assert status.returncode == 0, status.stdout + status.stderr
