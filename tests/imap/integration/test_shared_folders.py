"""Another owner's shared mailbox, as the user it is shared with sees and uses it: the rights
shape SELECT, STORE, APPEND, COPY, EXPUNGE; IDLE hears the owner's changes; LIST shows it."""

from __future__ import annotations

from tests.imap.integration.conftest import ALICE, BOB, CAROL, ImapSuite, RawClient

MESSAGE = b"From: carol@example.test\r\nSubject: team news %d\r\n\r\nbody\r\n"
TEAM = f'"Other Users/{CAROL}/Team"'


def test_bob_works_in_carols_team_mailbox_within_his_rights(imap_suite: ImapSuite) -> None:
    carol, bob = RawClient(imap_suite.tls_port), RawClient(imap_suite.tls_port)
    carol.login(CAROL)
    bob.login(BOB)
    assert carol.command("t1 CREATE Team")[-1].startswith(b"t1 OK")
    imap_suite.deliver(MESSAGE % 1, account=CAROL, mailbox="Team")
    assert carol.command(f"t2 SETACL Team {BOB} lrs")[-1].startswith(b"t2 OK")

    reply = bob.command('b1 LIST "" "Other Users/*" RETURN (STATUS (MESSAGES UNSEEN))')
    assert f'* LIST (\\NonExistent \\HasChildren) "/" "Other Users/{CAROL}"'.encode() in reply
    assert f'* LIST (\\HasNoChildren) "/" {TEAM}'.encode() in reply
    assert f"* STATUS {TEAM} (MESSAGES 1 UNSEEN 1)".encode() in reply
    assert f'* LSUB () "/" {TEAM}'.encode() in bob.command('b2 LSUB "" "*"')

    # s without w or t: READ-WRITE, and \Seen is the one flag he may keep.
    reply = bob.command(f"b3 SELECT {TEAM}")
    assert b"* OK [PERMANENTFLAGS (\\Seen)] Flags permitted" in reply
    assert reply[-1] == b"b3 OK [READ-WRITE] SELECT completed"
    reply = bob.command("b4 STORE 1 +FLAGS (\\Seen \\Flagged)")
    assert reply[:-1] == [b"* 1 FETCH (FLAGS (\\Seen))"] and reply[-1].startswith(b"b4 OK"), reply
    assert bob.command("b5 STORE 1 +FLAGS (\\Deleted)")[-1].startswith(b"b5 OK")  # left alone: no t
    assert bob.command("b6 EXPUNGE")[-1] == b"b6 NO [NOPERM] Permission denied"
    reply = bob.command(f"b7 APPEND {TEAM} {{5+}}\r\nhello")
    assert reply[-1] == b"b7 NO [NOPERM] Permission denied"

    # COPY out of it into his own INBOX needs only r there.
    reply = bob.command("b8 COPY 1 INBOX")
    assert reply[-1].startswith(b"b8 OK [COPYUID "), reply
    # ... and into it, i, which he lacks.
    assert bob.command(f"b9 COPY 1 {TEAM}")[-1] == b"b9 NO [NOPERM] Permission denied"

    # IDLE hears what happens in carol's mailbox (her account's events).
    bob.send(b"b10 IDLE\r\n")
    assert bob.line() == b"+ idling"
    imap_suite.deliver(MESSAGE % 2, account=CAROL, mailbox="Team")
    assert bob.line() == b"* 2 EXISTS"
    bob.send(b"DONE\r\n")
    assert bob.line().startswith(b"b10 OK")

    # Rights taken away: the mailbox is gone from his view.
    assert carol.command(f"t3 DELETEACL Team {BOB}")[-1].startswith(b"t3 OK")
    assert bob.command(f"b11 STATUS {TEAM} (MESSAGES)")[-1] == b"b11 NO [NONEXISTENT] No such mailbox"
    assert not any(b"Team" in line for line in bob.command('b12 LIST "" "*"'))
    bob.close()
    carol.close()


def test_creating_in_another_users_namespace_needs_k(imap_suite: ImapSuite) -> None:
    carol, alice = RawClient(imap_suite.tls_port), RawClient(imap_suite.tls_port)
    carol.login(CAROL)
    alice.login(ALICE)
    carol.command("k1 CREATE Box")
    assert carol.command(f"k2 SETACL Box {ALICE} lr")[-1].startswith(b"k2 OK")
    box = f"Other Users/{CAROL}/Box"
    assert alice.command(f'a1 CREATE "{box}/Sub"')[-1] == b"a1 NO [NOPERM] Permission denied"
    assert carol.command(f"k3 SETACL Box {ALICE} +k")[-1].startswith(b"k3 OK")
    assert alice.command(f'a2 CREATE "{box}/Sub"')[-1].startswith(b"a2 OK")
    assert carol.command('k4 LIST "" "Box/*"')[:-1] == [b'* LIST (\\HasNoChildren) "/" Box/Sub']
    assert alice.command(f'a3 MYRIGHTS "{box}/Sub"')[0] == f'* MYRIGHTS "{box}/Sub" lrk'.encode()
    assert alice.command(f'a4 DELETE "{box}/Sub"')[-1] == b"a4 NO [NOPERM] Permission denied"  # no x
    assert alice.command(f'a5 RENAME "{box}" Mine')[-1].startswith(b"a5 NO [CANNOT]")  # across owners
    alice.close()
    carol.close()
