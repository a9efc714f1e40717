"""Shared folders (RFC 4314 ACL, RFC 2342 other users' namespace) with Python's imaplib,
against directory, storage and imap as `parley up` runs them.

alice shares "Projects" with bob (lookup and read): bob finds it under the other
users' namespace, reads it, may not flag it; once alice takes the rights back he
no longer sees it. carol never does. Bad ACL input gets BAD or NO.
"""

from __future__ import annotations

import imaplib
import re
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from libs.testing.ports import free_ports
from libs.testing.suite import RunningSuite, start_suite, stop_suite

pytestmark = pytest.mark.timeout(240)

DOMAIN = "share.test"
ALICE, BOB, CAROL = (f"{name}@{DOMAIN}" for name in ("alice", "bob", "carol"))
PASSWORD = "shared-folders-password"
SHARED = f'"Other Users/{ALICE}/Projects"'
MESSAGE = b"From: alice@share.test\r\nTo: bob@share.test\r\nSubject: Project plan\r\n\r\nMilestones for Q1.\r\n"


@pytest.fixture(scope="module")
def imaps_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    imaps, imap = free_ports(2)
    env = {"PARLEY_IMAP_PORT": str(imap), "PARLEY_IMAP_TLS_PORT": str(imaps)}
    running = start_suite(tmp_path_factory.mktemp("acl"), services="directory,storage,imap", env=env)
    try:
        parley(running, "admin", "domain", "create", DOMAIN)
        for account in (ALICE, BOB, CAROL):
            parley(running, "admin", "account", "create", account, "--password", PASSWORD)
        yield imaps
    finally:
        stop_suite(running)
        print(running.log()[-10_000:])


def parley(suite: RunningSuite, *args: str) -> None:
    script = Path(sys.executable).parent / "parley"
    result = subprocess.run([str(script), *args], env=suite.env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def login(port: int, account: str) -> imaplib.IMAP4_SSL:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    client = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=context, timeout=30)
    client.login(account, PASSWORD)
    return client


def refused(reply: tuple[str, list], code: str) -> None:
    """A tagged NO with this response code (imaplib answers NO rather than raising)."""
    status, data = reply
    assert status == "NO" and f"[{code}]".encode() in data[0], reply


def listed(client: imaplib.IMAP4_SSL, pattern: str = "*") -> list[str]:
    status, lines = client.list('""', pattern)
    assert status == "OK"
    return [re.sub(r'^\(.*?\) "/" ', "", line.decode()).strip('"') for line in lines if line]


def test_alice_shares_projects_with_bob_read_only(imaps_port: int) -> None:
    alice = login(imaps_port, ALICE)
    capabilities = alice.capability()[1][0].split()
    assert b"ACL" in capabilities and b"RIGHTS=texk" in capabilities
    assert alice.create("Projects")[0] == "OK"
    assert alice.append("Projects", "", imaplib.Time2Internaldate(0), MESSAGE)[0] == "OK"
    assert alice.setacl("Projects", BOB, "lr")[0] == "OK"
    status, acl = alice.getacl("Projects")
    assert status == "OK" and acl == [f"Projects {ALICE} lrswipkxteacd {BOB} lr".encode()]

    bob = login(imaps_port, BOB)
    status, namespace = bob.namespace()
    assert namespace == [b'(("" "/")) (("Other Users/" "/")) NIL']
    assert f"Other Users/{ALICE}/Projects" in listed(bob)
    assert bob.myrights(SHARED) == ("OK", [f"{SHARED} lr".encode()])
    # SELECT works, and answers READ-ONLY (imaplib raises on that, once selected).
    with pytest.raises(imaplib.IMAP4.readonly):
        bob.select(SHARED)
    assert bob.state == "SELECTED"
    bob.is_readonly = True  # imaplib: carry on in a mailbox the server made read-only
    status, data = bob.fetch("1", "(BODY.PEEK[])")
    assert status == "OK" and data[0][1] == MESSAGE
    status, found = bob.search(None, "TEXT", "Milestones")
    assert found == [b"1"]
    # No w (nor s or t): the mailbox is read-only to him and his STORE is refused.
    status, reply = bob.store("1", "+FLAGS", "(\\Flagged)")
    assert status == "NO", reply
    refused(bob.setacl(SHARED, CAROL, "lr"), "NOPERM")  # no a
    refused(bob.append(SHARED, "", imaplib.Time2Internaldate(0), MESSAGE), "NOPERM")  # no i
    status, flags = alice.select("Projects")
    assert alice.fetch("1", "(FLAGS)")[1] == [b"1 (FLAGS ())"]
    bob.close()

    carol = login(imaps_port, CAROL)
    assert not any("Projects" in name for name in listed(carol))
    refused(carol.myrights(SHARED), "NONEXISTENT")
    assert carol.select(SHARED)[0] == "NO"

    assert alice.deleteacl("Projects", BOB)[0] == "OK"
    assert not any("Projects" in name for name in listed(bob))
    assert bob.select(SHARED)[0] == "NO"
    for client in (alice, bob, carol):
        client.logout()


def test_bad_acl_input_gets_bad_or_no(imaps_port: int) -> None:
    alice = login(imaps_port, ALICE)
    alice.create("Private")
    with pytest.raises(imaplib.IMAP4.error, match="Unknown right 'z'"):
        alice.setacl("Private", BOB, "lrz")  # BAD: not a right

    refused(alice.setacl("Private", f"nobody@{DOMAIN}", "lr"), "CANNOT")  # NO: no such identifier
    refused(alice.setacl("Private", ALICE, "lr"), "CANNOT")  # NO: the owner's rights are fixed
    refused(alice.setacl("Nowhere", BOB, "lr"), "NONEXISTENT")

    assert alice.setacl("Private", BOB, "l")[0] == "OK"
    bob = login(imaps_port, BOB)
    shared = f'"Other Users/{ALICE}/Private"'
    refused(bob.setacl(shared, BOB, "lra"), "NOPERM")  # SETACL without a
    refused(bob.getacl(shared), "NOPERM")
    assert bob.select(shared)[0] == "NO"  # l without r: he knows it exists, no more
    refused(bob.myrights(f'"Other Users/{ALICE}"'), "NONEXISTENT")  # a level of the namespace, not a mailbox
    alice.logout()
    bob.logout()
