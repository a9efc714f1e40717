"""Mailbox commands over a real socket: CREATE, RENAME, DELETE, SUBSCRIBE/LSUB, LIST-EXTENDED,
LIST-STATUS, STATUS, NAMESPACE, MULTIAPPEND, CLOSE/UNSELECT and IMAP4rev2."""

from __future__ import annotations

from tests.imap.integration.conftest import CAROL, ImapSuite, RawClient

MESSAGE = b"From: a@example.org\r\nSubject: m\r\n\r\nbody\r\n"


def test_create_rename_delete_and_subscriptions(imap_suite: ImapSuite) -> None:
    client = RawClient(imap_suite.tls_port)
    client.login(CAROL)
    assert client.command("m1 CREATE Work/Reports/")[-1].startswith(b"m1 OK")
    assert client.command("m2 CREATE Work/Reports")[-1].startswith(b"m2 NO [ALREADYEXISTS]")
    assert client.command("m3 RENAME Work/Reports Work/Archive")[-1].startswith(b"m3 OK")
    reply = client.command('m4 LIST "" "Work/*"')
    assert reply[:-1] == [b'* LIST (\\HasNoChildren) "/" Work/Archive']
    reply = client.command('m5 LIST "" "Work"')
    assert reply[0] == b'* LIST (\\Noselect \\HasChildren) "/" Work'
    assert client.command("m6 SUBSCRIBE Work/Archive")[-1].startswith(b"m6 OK")
    assert client.command('m7 LSUB "" "Work/*"')[:-1] == [b'* LSUB () "/" Work/Archive']
    reply = client.command('m8 LIST (SUBSCRIBED) "" "Work/*" RETURN (CHILDREN)')
    assert reply[:-1] == [b'* LIST (\\HasNoChildren \\Subscribed) "/" Work/Archive']
    assert client.command("m9 UNSUBSCRIBE Work/Archive")[-1].startswith(b"m9 OK")
    assert client.command("m10 DELETE Work/Archive")[-1].startswith(b"m10 OK")
    assert client.command("m11 DELETE Work/Archive")[-1].startswith(b"m11 NO [NONEXISTENT]")
    reply = client.command('m12 LIST "" ""')
    assert reply[0] == b'* LIST (\\Noselect) "/" ""'
    assert client.command("m13 NAMESPACE")[0] == b'* NAMESPACE (("" "/")) (("Other Users/" "/")) NIL'
    client.close()


def test_list_special_use_and_status(imap_suite: ImapSuite) -> None:
    client = RawClient(imap_suite.tls_port)
    client.login(CAROL)
    reply = client.command('s1 LIST (SPECIAL-USE) "" "*"')
    names = {line.rsplit(b" ", 1)[1] for line in reply[:-1]}
    assert names == {b"Sent", b"Drafts", b"Trash", b"Junk", b"Archive"}
    reply = client.command('s2 LIST "" "INBOX" RETURN (STATUS (MESSAGES UIDNEXT UNSEEN))')
    assert reply[0].startswith(b'* LIST (\\HasNoChildren) "/" INBOX')
    assert reply[1].startswith(b"* STATUS INBOX (MESSAGES ")
    reply = client.command("s3 STATUS Drafts (MESSAGES UIDVALIDITY HIGHESTMODSEQ SIZE APPENDLIMIT)")
    assert reply[0].startswith(b"* STATUS Drafts (MESSAGES 0 UIDVALIDITY ")
    assert client.command("s4 STATUS Nowhere (MESSAGES)")[-1].startswith(b"s4 NO [NONEXISTENT]")
    client.close()


def test_multiappend_unselect_and_close(imap_suite: ImapSuite) -> None:
    client = RawClient(imap_suite.tls_port)
    client.login(CAROL)
    client.command("a0 CREATE Batch")
    client.send(
        b"a1 APPEND Batch (\\Seen) {%d+}\r\n%s (\\Deleted) {%d+}\r\n%s\r\n"
        % (len(MESSAGE), MESSAGE, len(MESSAGE), MESSAGE)
    )
    reply = client.until_tagged(b"a1")
    assert reply[-1].startswith(b"a1 OK [APPENDUID ") and reply[-1].split()[4].endswith(b":2]")
    assert b"* 2 EXISTS" in client.command("a2 SELECT Batch")
    assert client.command("a3 UNSELECT")[-1].startswith(b"a3 OK")
    assert client.command("a4 FETCH 1 FLAGS")[-1].startswith(b"a4 BAD")
    client.command("a5 SELECT Batch")
    assert client.command("a6 CLOSE")[-1].startswith(b"a6 OK")
    assert b"* 1 EXISTS" in client.command("a7 EXAMINE Batch")
    reply = client.command("a8 FETCH 1 (BODY[])")  # EXAMINE: no \Seen is set
    assert reply[-1].startswith(b"a8 OK")
    assert client.command("a9 STORE 1 +FLAGS (\\Flagged)")[-1].startswith(b"a9 NO")
    client.close()


def test_imap4rev2_gets_esearch_and_no_recent(imap_suite: ImapSuite) -> None:
    client = RawClient(imap_suite.tls_port)
    client.login(CAROL)
    client.command("r1 ENABLE IMAP4rev2")
    reply = client.command("r2 SELECT INBOX")
    assert not any(line.endswith(b"RECENT") for line in reply)
    reply = client.command("r3 SEARCH ALL")
    assert reply[0].startswith(b'* ESEARCH (TAG "r3")')
    client.close()


def test_selected_mailbox_renamed_or_deleted_by_another_session(imap_suite: ImapSuite) -> None:
    import time

    reader, admin = RawClient(imap_suite.tls_port), RawClient(imap_suite.tls_port)
    reader.login(CAROL)
    admin.login(CAROL)
    admin.command("d0 CREATE Moving")
    admin.send(b"d1 APPEND Moving {%d+}\r\n%s\r\n" % (len(MESSAGE), MESSAGE))
    admin.until_tagged(b"d1")
    reader.command("r1 SELECT Moving")
    assert admin.command("d2 RENAME Moving Moved")[-1].startswith(b"d2 OK")
    time.sleep(0.3)
    reply = reader.command("r2 FETCH 1 (BODY.PEEK[TEXT])")
    assert reply[-1].startswith(b"r2 OK") and any(b"BODY[TEXT]" in line for line in reply)
    assert admin.command("d3 DELETE Moved")[-1].startswith(b"d3 OK")
    time.sleep(0.3)
    reader.send(b"r3 NOOP\r\n")
    lines = []
    try:
        while True:
            lines.append(reader.line())
    except (ConnectionError, OSError):
        pass
    assert any(line.startswith(b"* BYE") for line in lines), lines
    admin.close()
