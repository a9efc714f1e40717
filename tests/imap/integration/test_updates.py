"""Mailbox updates: IDLE hears a delivery within a second, NOOP polls, CONDSTORE/QRESYNC resynchronise."""

from __future__ import annotations

import re
import time

from tests.imap.integration.conftest import CAROL, ImapSuite, RawClient

MESSAGE = b"From: a@example.org\r\nTo: carol@example.test\r\nSubject: news %d\r\n\r\nbody\r\n"


def test_idle_receives_exists_within_a_second_of_a_delivery(imap_suite: ImapSuite) -> None:
    client = RawClient(imap_suite.tls_port)
    client.login()
    reply = client.command("i1 SELECT INBOX")
    exists = int(next(line.split()[1] for line in reply if line.endswith(b"EXISTS")))
    client.send(b"i2 IDLE\r\n")
    assert client.line() == b"+ idling"
    started = time.monotonic()
    imap_suite.deliver(MESSAGE % 1)
    delivered = time.monotonic()
    assert client.line() == b"* %d EXISTS" % (exists + 1)
    assert time.monotonic() - delivered < 1.0, time.monotonic() - started
    client.send(b"DONE\r\n")
    assert client.line().startswith(b"i2 OK")
    client.close()


def test_noop_reports_changes_made_by_another_session(imap_suite: ImapSuite) -> None:
    watcher, actor = RawClient(imap_suite.tls_port), RawClient(imap_suite.tls_port)
    watcher.login(CAROL)
    actor.login(CAROL)
    uid = imap_suite.deliver(MESSAGE % 2, account=CAROL)
    watcher.command("n1 SELECT INBOX")
    actor.command("n2 SELECT INBOX")
    reply = actor.command(f"n3 UID STORE {uid} +FLAGS (\\Flagged)")
    assert reply[-1].startswith(b"n3 OK")
    deadline = time.monotonic() + 5
    while True:
        reply = watcher.command("n4 NOOP")
        if any(b"FETCH" in line and b"\\Flagged" in line for line in reply) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert any(b"FETCH" in line and b"\\Flagged" in line for line in reply), reply
    actor.command(f"n5 UID STORE {uid} +FLAGS.SILENT (\\Deleted)")
    actor.command("n6 EXPUNGE")
    # No EXPUNGE while answering FETCH (RFC 9051 section 7.5.1), but at NOOP.
    reply = watcher.command("n7 FETCH 1 (FLAGS)")
    assert not any(line.endswith(b"EXPUNGE") for line in reply)
    reply = watcher.command("n8 NOOP")
    assert any(line.endswith(b"EXPUNGE") for line in reply), reply
    watcher.close()
    actor.close()


def test_condstore_and_qresync_round_trip(imap_suite: ImapSuite) -> None:
    client = RawClient(imap_suite.tls_port)
    client.login()
    client.command("q0 CREATE Sync")
    uids = [imap_suite.deliver(MESSAGE % n, mailbox="Sync") for n in range(3)]
    reply = client.command("q1 SELECT Sync (CONDSTORE)")
    highest = int(re.search(rb"HIGHESTMODSEQ (\d+)", b"\n".join(reply)).group(1))
    uidvalidity = int(re.search(rb"UIDVALIDITY (\d+)", b"\n".join(reply)).group(1))
    reply = client.command(f"q2 UID STORE {uids[0]} +FLAGS (\\Seen)")
    assert re.search(rb"MODSEQ \((\d+)\)", reply[0])
    reply = client.command(f"q3 UID STORE {uids[0]} (UNCHANGEDSINCE {highest}) +FLAGS (\\Answered)")
    assert reply[-1].startswith(b"q3 OK [MODIFIED %d]" % uids[0])
    reply = client.command(f"q4 UID FETCH 1:* (FLAGS) (CHANGEDSINCE {highest})")
    fetched = [line for line in reply if line.startswith(b"* ") and b"FETCH" in line]
    assert len(fetched) == 1 and b"UID %d" % uids[0] in fetched[0] and b"MODSEQ" in fetched[0], reply
    client.command(f"q5 UID STORE {uids[1]} +FLAGS.SILENT (\\Deleted)")
    client.command(f"q6 UID EXPUNGE {uids[1]}")
    client.command("q7 LOGOUT")
    client.close()

    client = RawClient(imap_suite.tls_port)
    client.login()
    assert b"QRESYNC" in client.command("r1 ENABLE QRESYNC")[0]
    reply = client.command(f"r2 SELECT Sync (QRESYNC ({uidvalidity} {highest} 1:*))")
    text = b"\n".join(reply)
    assert b"* VANISHED (EARLIER) %d" % uids[1] in text
    assert re.search(rb"\* 1 FETCH \(UID %d FLAGS \(\\Seen\) MODSEQ" % uids[0], text)
    client.command(f"r3 UID STORE {uids[2]} +FLAGS.SILENT (\\Deleted)")
    reply = client.command("r4 EXPUNGE")
    assert reply[0] == b"* VANISHED %d" % uids[2]
    client.close()


def test_esearch_and_searchres(imap_suite: ImapSuite) -> None:
    client = RawClient(imap_suite.tls_port)
    client.login()
    client.command("e0 CREATE Esearch")
    for n in range(4):
        imap_suite.deliver(MESSAGE % n, mailbox="Esearch")
    client.command("e1 SELECT Esearch")
    reply = client.command("e2 SEARCH RETURN (MIN MAX COUNT ALL) ALL")
    assert reply[0] == b'* ESEARCH (TAG "e2") MIN 1 MAX 4 ALL 1:4 COUNT 4'
    reply = client.command("e3 UID SEARCH RETURN (SAVE) SUBJECT news")
    assert reply == [b"e3 OK SEARCH completed"] or reply[-1].startswith(b"e3 OK")
    reply = client.command("e4 FETCH $ (UID)")
    assert len([line for line in reply if line.startswith(b"* ")]) == 4
    client.close()


def test_shutdown_says_bye_to_open_sessions(imap_suite: ImapSuite, tmp_path) -> None:
    from tests.imap.integration.conftest import start_imap

    blob_env = {"PARLEY_BLOB_BACKEND": "local", "PARLEY_BLOB_LOCAL_DIR": str(imap_suite.blob_dir)}
    process, _, tls_port, _ = start_imap(tmp_path, imap_suite.nats_url, blob_env)
    try:
        waiting, idling = RawClient(tls_port), RawClient(tls_port)
        waiting.login()
        idling.login()
        idling.command("i1 SELECT INBOX")
        idling.send(b"i2 IDLE\r\n")
        assert idling.line() == b"+ idling"
    finally:
        process.stop()
    assert waiting.line().startswith(b"* BYE")
    assert idling.line().startswith(b"* BYE")
