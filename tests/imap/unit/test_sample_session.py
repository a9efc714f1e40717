"""RFC 3501 section 8 (and RFC 9051 section 8): the sample session, byte for byte.

The fake service below answers with the protocol core's own response
builders, from Python values, as the future service layer will; every line
the RFC shows must come out exactly, except the greeting and the BYE, whose
texts are ours.
"""

from datetime import datetime, timedelta, timezone

from services.imap.protocol import CommandReceived, Fetch, Login, Select, Session, Store, responses
from services.imap.protocol.responses import Atom
from tests.imap.fakes import Exchange, make_config

DATE_LINE = b"Date: Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\r\n"
HEADER = DATE_LINE + b"X" * (342 - len(DATE_LINE) - 4) + b"\r\n\r\n"  # the RFC's {342}
ENVELOPE = {
    "date": "Wed, 17 Jul 1996 02:23:25 -0700 (PDT)",
    "subject": "IMAP4rev1 WG mtg summary and minutes",
    "from": [["Terry Gray", None, "gray", "cac.washington.edu"]],
    "to": [[None, None, "imap", "cac.washington.edu"]],
    "cc": [[None, None, "minutes", "CNRI.Reston.VA.US"], ["John Klensin", None, "KLENSIN", "MIT.EDU"]],
    "message_id": "<B27397-0100000@cac.washington.edu>",
}
STRUCTURE = {"type": "text", "subtype": "plain", "params": [["CHARSET", "US-ASCII"]], "size": 3028, "lines": 92}


def rfc3501_service(session: Session, event: object) -> bytes:
    assert isinstance(event, CommandReceived)
    command = event.command
    if isinstance(command, Login):
        return session.login_succeeded(command.username)
    if isinstance(command, Select):
        out = session.untagged(
            responses.exists(18),
            responses.flags(["\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft"]),
            responses.recent(2),
            responses.ok("Message 17 is the first unseen message", code=responses.code("UNSEEN", 17)),
            responses.ok("UIDs valid", code=responses.code("UIDVALIDITY", 3857529045)),
        )
        return out + session.ok("SELECT completed", responses.code("READ-WRITE"))
    if isinstance(command, Fetch) and command.macro == "FULL":
        when = datetime(1996, 7, 17, 2, 44, 25, tzinfo=timezone(timedelta(hours=-7)))
        items = [
            ("FLAGS", [Atom("\\Seen")]),
            ("INTERNALDATE", when),
            ("RFC822.SIZE", 4286),
            ("ENVELOPE", responses.envelope(ENVELOPE)),
            ("BODY", responses.body_structure(STRUCTURE, extensible=False)),
        ]
        return session.untagged(responses.fetch(12, items)) + session.ok("FETCH completed")
    if isinstance(command, Fetch):
        (attribute,) = command.attributes
        out = session.untagged(responses.fetch(12, [(attribute.response_name, HEADER)]))
        return out + session.ok("FETCH completed")
    if isinstance(command, Store):
        out = session.untagged(responses.fetch(12, [("FLAGS", [Atom("\\Seen"), Atom("\\Deleted")])]))
        return out + session.ok("+FLAGS completed")
    raise AssertionError(command)


def test_rfc3501_sample_session() -> None:
    exchange = Exchange(make_config(), answer=rfc3501_service)
    assert exchange.greeting.startswith(b"* OK [CAPABILITY IMAP4rev1 IMAP4rev2 LITERAL+ SASL-IR ID ENABLE IDLE ")

    assert exchange.send(b"a001 login mrc secret\r\n").endswith(b"] LOGIN completed\r\n")
    assert exchange.send(b"a002 select inbox\r\n") == (
        b"* 18 EXISTS\r\n"
        b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"
        b"* 2 RECENT\r\n"
        b"* OK [UNSEEN 17] Message 17 is the first unseen message\r\n"
        b"* OK [UIDVALIDITY 3857529045] UIDs valid\r\n"
        b"a002 OK [READ-WRITE] SELECT completed\r\n"
    )
    assert exchange.send(b"a003 fetch 12 full\r\n") == (
        b'* 12 FETCH (FLAGS (\\Seen) INTERNALDATE "17-Jul-1996 02:44:25 -0700" '
        b'RFC822.SIZE 4286 ENVELOPE ("Wed, 17 Jul 1996 02:23:25 -0700 (PDT)" '
        b'"IMAP4rev1 WG mtg summary and minutes" '
        b'(("Terry Gray" NIL "gray" "cac.washington.edu")) '
        b'(("Terry Gray" NIL "gray" "cac.washington.edu")) '
        b'(("Terry Gray" NIL "gray" "cac.washington.edu")) '
        b'((NIL NIL "imap" "cac.washington.edu")) '
        b'((NIL NIL "minutes" "CNRI.Reston.VA.US") '
        b'("John Klensin" NIL "KLENSIN" "MIT.EDU")) NIL NIL '
        b'"<B27397-0100000@cac.washington.edu>") '
        b'BODY ("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 3028 92))\r\n'
        b"a003 OK FETCH completed\r\n"
    )
    assert exchange.send(b"a004 fetch 12 body[header]\r\n") == (
        b"* 12 FETCH (BODY[HEADER] {342}\r\n" + HEADER + b")\r\na004 OK FETCH completed\r\n"
    )
    assert exchange.send(b"a005 store 12 +flags \\deleted\r\n") == (
        b"* 12 FETCH (FLAGS (\\Seen \\Deleted))\r\na005 OK +FLAGS completed\r\n"
    )
    assert exchange.send(b"a006 logout\r\n") == (b"* BYE imap.example.test logging out\r\na006 OK LOGOUT completed\r\n")
    assert exchange.session.state.value == "logout"


def test_parsed_commands_of_the_sample_session() -> None:
    exchange = Exchange(make_config(), answer=rfc3501_service)
    exchange.send(b"a001 login mrc secret\r\na002 select inbox\r\na003 fetch 12 full\r\n")
    exchange.send(b"a004 fetch 12 body[header]\r\na005 store 12 +flags \\deleted\r\n")
    login, select, full, header, store = exchange.commands()
    assert login == Login("a001", "mrc", "secret")
    assert select == Select("a002", "INBOX")
    assert [a.name for a in full.attributes] == ["FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"]
    assert header.attributes[0].response_name == "BODY[HEADER]"
    assert header.attributes[0].sets_seen
    assert store.mode == "add" and store.flags == ("\\Deleted",) and not store.silent
