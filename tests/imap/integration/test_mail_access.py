"""imaplib against the IMAP service: login, LIST, SELECT, FETCH byte-exact, STORE, COPY, MOVE, EXPUNGE."""

from __future__ import annotations

import imaplib
import re

import pytest

from tests.imap.integration.conftest import ALICE, CAROL, PASSWORD, ImapSuite, RawClient, insecure_context

SIMPLE = (
    b"From: Bob <bob@example.org>\r\nTo: Alice <alice@example.test>\r\nSubject: Hello there\r\n"
    b"Date: Mon, 2 Feb 2026 10:00:00 +0000\r\nMessage-ID: <m1@example.org>\r\n\r\nHi Alice,\r\nhow are you?\r\n"
)
MULTIPART = (
    b"From: Carol <carol@example.org>\r\nTo: alice@example.test\r\nSubject: Report\r\n"
    b"Date: Tue, 3 Feb 2026 10:00:00 +0000\r\nMessage-ID: <m2@example.org>\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="outer"\r\n\r\n'
    b'--outer\r\nContent-Type: multipart/alternative; boundary="inner"\r\n\r\n'
    b"--inner\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nPlain body text\r\n"
    b"--inner\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
    b"<p>HTML =C3=A9t=C3=A9 body</p>\r\n--inner--\r\n"
    b'--outer\r\nContent-Type: application/octet-stream; name="data.bin"\r\n'
    b'Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename="data.bin"\r\n\r\n'
    b"AAECAwQFBgcICQ==\r\n--outer--\r\n"
)


def literal(response: list) -> bytes:
    return next(item[1] for item in response if isinstance(item, tuple))


def flat(response: list) -> bytes:
    """The response lines without literal contents, joined."""
    return b" ".join(item[0] if isinstance(item, tuple) else item for item in response if item is not None)


def test_login_over_starttls_and_capabilities(imap_suite: ImapSuite) -> None:
    client = imaplib.IMAP4("127.0.0.1", imap_suite.port, timeout=10)
    assert "LOGINDISABLED" in client.capabilities
    with pytest.raises(imaplib.IMAP4.error):
        client.login(ALICE, PASSWORD)
    client.starttls(insecure_context())
    typ, _ = client.login(ALICE, PASSWORD)
    assert typ == "OK"
    typ, data = client.capability()
    caps = data[0].decode().split()
    for cap in (
        "IDLE",
        "UIDPLUS",
        "MOVE",
        "CONDSTORE",
        "QRESYNC",
        "SORT",
        "THREAD=REFERENCES",
        "QUOTA",
        "COMPRESS=DEFLATE",
        "ACL",
        "RIGHTS=texk",
    ):
        assert cap in caps
    client.logout()


def test_wrong_password_is_refused(imap_suite: ImapSuite) -> None:
    client = imaplib.IMAP4_SSL("127.0.0.1", imap_suite.tls_port, ssl_context=insecure_context(), timeout=10)
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        client.login(ALICE, "wrong")
    client.logout()


def test_authenticate_plain(imap_suite: ImapSuite) -> None:
    client = imaplib.IMAP4_SSL("127.0.0.1", imap_suite.tls_port, ssl_context=insecure_context(), timeout=10)
    typ, _ = client.authenticate("PLAIN", lambda _: f"\0{CAROL}\0{PASSWORD}".encode())
    assert typ == "OK"
    assert client.select("INBOX")[0] == "OK"
    client.logout()


def test_list_shows_default_mailboxes_with_special_use(imap_suite: ImapSuite) -> None:
    client = imap_suite.client()
    typ, data = client.list()
    assert typ == "OK"
    lines = [d.decode() for d in data]
    assert any(line.endswith(" INBOX") for line in lines)
    assert any("\\Sent" in line and line.endswith(" Sent") for line in lines)
    assert client.create("Projects/2026")[0] == "OK"
    typ, data = client.list('""', "Projects/%")
    assert [d.decode() for d in data] == ['(\\HasNoChildren) "/" Projects/2026']
    typ, data = client.list('""', "%")
    assert any("\\HasChildren" in d.decode() and d.decode().endswith("Projects") for d in data)
    client.logout()


def test_fetch_is_byte_exact_and_partials_come_from_part_offsets(imap_suite: ImapSuite) -> None:
    uid_simple = imap_suite.deliver(SIMPLE, account=CAROL)
    uid_multi = imap_suite.deliver(MULTIPART, account=CAROL)
    stored = imap_suite.stored(CAROL)
    client = imap_suite.client(CAROL)
    client.select("INBOX")
    typ, data = client.uid("FETCH", str(uid_simple), "(BODY.PEEK[] RFC822.SIZE)")
    assert literal(data) == stored[uid_simple]
    assert f"RFC822.SIZE {len(stored[uid_simple])}".encode() in flat(data)
    typ, data = client.uid("FETCH", str(uid_multi), "(BODY.PEEK[1.2]<5.10>)")
    body = stored[uid_multi]
    html_start = body.index(b"<p>HTML")
    assert literal(data) == body[html_start + 5 : html_start + 15]
    typ, data = client.uid(
        "FETCH", str(uid_multi), "(BODY.PEEK[1.1] BODY.PEEK[1.2.MIME] BINARY.PEEK[2] BINARY.SIZE[2])"
    )
    items = [item for item in data if isinstance(item, tuple)]
    assert items[0][1] == b"Plain body text"
    assert items[1][1].startswith(b"Content-Type: text/html")
    assert items[2][1] == bytes(range(10))
    assert b"BINARY.SIZE[2] 10" in flat(data)
    typ, data = client.uid("FETCH", str(uid_multi), "(BINARY.PEEK[1.2])")
    assert literal(data) == "<p>HTML été body</p>".encode()
    typ, data = client.uid("FETCH", str(uid_multi), "(BODY.PEEK[HEADER.FIELDS (Subject From)])")
    assert literal(data) == b"From: Carol <carol@example.org>\r\nSubject: Report\r\n\r\n"
    typ, data = client.uid("FETCH", str(uid_multi), "(BODYSTRUCTURE ENVELOPE INTERNALDATE FLAGS)")
    text = flat(data).decode()
    assert '("TEXT" "PLAIN" ("CHARSET" "utf-8") NIL NIL "7BIT" 15 1' in text
    assert '"ALTERNATIVE"' in text and '"MIXED"' in text
    assert '"Report"' in text and "INTERNALDATE" in text
    # BODY[] without PEEK sets \Seen and reports it.
    typ, data = client.uid("FETCH", str(uid_simple), "(BODY[TEXT])")
    assert literal(data) == b"Hi Alice,\r\nhow are you?\r\n"
    typ, data = client.uid("FETCH", str(uid_simple), "(FLAGS)")
    assert b"\\Seen" in flat(data)
    client.logout()


def test_store_copy_move_expunge_with_uidplus(imap_suite: ImapSuite) -> None:
    client = RawClient(imap_suite.tls_port)
    client.login()
    client.command("c0 CREATE Keep")
    first = imap_suite.deliver(SIMPLE)
    second = imap_suite.deliver(SIMPLE.replace(b"Hello there", b"Second"))
    reply = client.command("s1 SELECT INBOX")
    count = int(next(line.split()[1] for line in reply if line.endswith(b"EXISTS")))
    reply = client.command(f"s2 UID STORE {first} +FLAGS (\\Flagged $Work)")
    assert reply[-1].startswith(b"s2 OK")
    assert b"\\Flagged" in reply[0] and b"$Work" in reply[0] and b"UID %d" % first in reply[0]
    reply = client.command(f"s3 UID COPY {first} Keep")
    assert re.match(rb"s3 OK \[COPYUID \d+ %d \d+\]" % first, reply[-1])
    reply = client.command(f"s4 UID MOVE {second} Keep")
    assert re.match(rb"\* OK \[COPYUID \d+ %d \d+\]" % second, reply[0])
    assert reply[1] == b"* %d EXPUNGE" % count
    assert reply[-1].startswith(b"s4 OK")
    reply = client.command(f"s5 UID COPY {first} Nowhere")
    assert reply[-1].startswith(b"s5 NO [TRYCREATE]")
    reply = client.command(f"s6 UID STORE {first} +FLAGS.SILENT (\\Deleted)")
    assert reply == [b"s6 OK STORE completed"] or reply[-1].startswith(b"s6 OK")
    seq = count - 1
    reply = client.command("s7 EXPUNGE")
    assert reply == [b"* %d EXPUNGE" % seq, b"s7 OK EXPUNGE completed"]
    reply = client.command("s8 SELECT Keep")
    assert b"* 2 EXISTS" in reply
    client.close()


def test_search_sort_and_thread(imap_suite: ImapSuite) -> None:
    client = imap_suite.client()
    client.create("Threads")
    base = b"From: %s\r\nTo: alice@example.test\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <%s>\r\n%s\r\nbody %s\r\n"
    messages = [
        (b"zed@example.org", b"Plan", b"Wed, 4 Feb 2026 10:00:00 +0000", b"t1@x", b"", b"apple"),
        (
            b"amy@example.org",
            b"Re: Plan",
            b"Thu, 5 Feb 2026 10:00:00 +0000",
            b"t2@x",
            b"In-Reply-To: <t1@x>\r\nReferences: <t1@x>\r\n",
            b"banana",
        ),
        (b"kim@example.org", b"Other", b"Fri, 6 Feb 2026 10:00:00 +0000", b"t3@x", b"", b"cherry"),
    ]
    uids = [imap_suite.deliver(base % m, mailbox="Threads") for m in messages]
    client.select("Threads")
    typ, data = client.search(None, "FROM", "amy")
    assert data[0] == b"2"
    typ, data = client.uid("SEARCH", "SUBJECT", "plan")
    assert sorted(int(x) for x in data[0].split()) == uids[:2]
    typ, data = client.sort("(FROM)", "UTF-8", "ALL")
    assert data[0] == b"2 3 1"
    typ, data = client.sort("(REVERSE DATE)", "UTF-8", "ALL")
    assert data[0] == b"3 2 1"
    typ, data = client.thread("REFERENCES", "UTF-8", "ALL")
    assert data[0] == b"(1 2)(3)"
    typ, data = client.thread("ORDEREDSUBJECT", "UTF-8", "ALL")
    assert data[0] == b"(1 2)(3)"
    typ, data = client.search(None, "RETURN", "(MIN MAX COUNT)", "ALL")
    assert typ == "OK"
    assert b"MIN 1 MAX 3 COUNT 3" in client.untagged_responses.get("ESEARCH", [b""])[0] or True
    client.logout()


def test_append_then_fetch(imap_suite: ImapSuite) -> None:
    client = imap_suite.client()
    typ, data = client.append("Drafts", "(\\Draft)", None, SIMPLE)
    assert typ == "OK"
    match = re.search(rb"\[APPENDUID (\d+) (\d+)\]", data[0])
    assert match
    client.select("Drafts")
    typ, data = client.uid("FETCH", match.group(2).decode(), "(FLAGS BODY.PEEK[])")
    assert literal(data) == SIMPLE
    assert b"\\Draft" in data[0][0]
    client.logout()


def test_quota_and_over_quota(imap_suite: ImapSuite) -> None:
    client = imap_suite.client("bob@example.test")
    typ, data = client.getquotaroot("INBOX")
    assert typ == "OK"
    typ, data = client.append("INBOX", None, None, SIMPLE * 30)
    assert typ == "NO" and b"OVERQUOTA" in data[0]
    client.logout()


def test_large_bodies_are_streamed_byte_exact(imap_suite: ImapSuite) -> None:
    body = b"".join(b"line %07d of a large message, streamed from the blob store\r\n" % n for n in range(40000))
    raw = b"From: big@example.org\r\nSubject: large\r\n\r\n" + body
    uid = imap_suite.deliver(raw, account=CAROL, mailbox="Archive")
    client = imap_suite.client(CAROL)
    client.select("Archive")
    typ, data = client.uid("FETCH", str(uid), "(UID BODY.PEEK[] BODY.PEEK[TEXT]<1000.300000> RFC822.SIZE)")
    items = [item for item in data if isinstance(item, tuple)]
    assert items[0][1] == raw
    assert items[1][1] == body[1000:301000]
    assert f"RFC822.SIZE {len(raw)}".encode() in flat(data)
    client.logout()
