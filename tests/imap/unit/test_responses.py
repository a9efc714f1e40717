"""The response serializer, byte for byte, and its round trip through the parser."""

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.imap.protocol import LocalProtocolError, responses
from services.imap.protocol.reader import CommandUnit, ContinueLiteral, LiteralValue
from services.imap.protocol.responses import Atom, Literal, Mailbox, encode_string, encode_value
from services.imap.protocol.sequence import SeqRange, SequenceSet
from tests.imap.framing import frame, parse


def test_status_responses() -> None:
    assert responses.ok("done", tag="a1").to_bytes() == b"a1 OK done\r\n"
    assert responses.no("No such mailbox", tag="a1", code=responses.code("TRYCREATE")).to_bytes() == (
        b"a1 NO [TRYCREATE] No such mailbox\r\n"
    )
    assert responses.bad("syntax").to_bytes() == b"* BAD syntax\r\n"
    assert responses.bye("Autologout; idle for too long").to_bytes() == b"* BYE Autologout; idle for too long\r\n"
    assert responses.preauth("IMAP4rev2 server logged in as Smith").to_bytes() == (
        b"* PREAUTH IMAP4rev2 server logged in as Smith\r\n"
    )
    code = responses.code("COPYUID", "38505 304,319:320 3956:3958")
    assert (
        responses.ok("Done", tag="A003", code=code).to_bytes()
        == b"A003 OK [COPYUID 38505 304,319:320 3956:3958] Done\r\n"
    )
    assert responses.ok("x", code=responses.code("PERMANENTFLAGS", ["\\Deleted", "\\Seen", "\\*"])).to_bytes() == (
        b"* OK [PERMANENTFLAGS (\\Deleted \\Seen \\*)] x\r\n"
    )
    assert responses.no("x", tag="t", code=responses.code("BADCHARSET", ["UTF-8"])).to_bytes() == (
        b"t NO [BADCHARSET (UTF-8)] x\r\n"
    )
    assert responses.ok("", tag="t").to_bytes() == b"t OK done\r\n"


@pytest.mark.parametrize(
    "name",
    sorted(responses.KNOWN_CODES),
)
def test_every_known_code_renders(name: str) -> None:
    assert responses.no("x", tag="a", code=responses.code(name)).to_bytes() == b"a NO [" + name.encode() + b"] x\r\n"


def test_text_injection_is_refused() -> None:
    with pytest.raises(LocalProtocolError):
        responses.ok("line\r\na2 OK forged", tag="a1")
    with pytest.raises(LocalProtocolError):
        responses.code("ALERT", "x] y").to_bytes()
    with pytest.raises(LocalProtocolError):
        responses.ok("x", tag="a b")
    with pytest.raises(LocalProtocolError):
        encode_value(Atom("two words"))
    with pytest.raises(LocalProtocolError):
        encode_string("nul\0")


def test_string_choice() -> None:
    assert encode_string("plain") == b'"plain"'
    assert encode_string('a "quoted" \\ value') == b'"a \\"quoted\\" \\\\ value"'
    assert encode_string("two\r\nlines") == b"{10}\r\ntwo\r\nlines"
    assert encode_string("Grüße") == b"{7}\r\nGr\xc3\xbc\xc3\x9fe"
    assert encode_string("Grüße", utf8=True) == b'"Gr\xc3\xbc\xc3\x9fe"'
    assert encode_string(b"\xff\xfe", utf8=True) == b"{2}\r\n\xff\xfe"
    assert encode_string("x" * 2000).startswith(b"{2000}\r\n")
    assert encode_value(Literal(b"\0\1", binary=True)) == b"~{2}\r\n\0\1"
    assert encode_value(None) == b"NIL" and encode_value(responses.NIL) == b"NIL"
    assert encode_value([1, "a", [Atom("\\Seen")], SequenceSet.parse("1:*")]) == b'(1 "a" (\\Seen) 1:*)'


def test_mailbox_names_follow_the_client_mode() -> None:
    assert encode_value(Mailbox("Entwürfe")) == b"Entw&APw-rfe"
    assert encode_value(Mailbox("Entwürfe"), utf8=True) == b'"Entw\xc3\xbcrfe"'
    assert encode_value(Mailbox("inbox")) == b"INBOX"
    assert encode_value(Mailbox("Tom & Jerry")) == b'"Tom &- Jerry"'
    # Atoms where they can be, but never NIL or empty, and never a wildcard unquoted.
    assert encode_value(Mailbox("nil")) == b'"nil"'
    assert encode_value(Mailbox("")) == b'""'
    assert encode_value(Mailbox("a%b*")) == b'"a%b*"'
    assert encode_value(Mailbox("[Gmail]/Sent")) == b"[Gmail]/Sent"


def test_server_data() -> None:
    assert responses.capability(["IMAP4rev2", "STARTTLS", "AUTH=GSSAPI", "LOGINDISABLED"]).to_bytes() == (
        b"* CAPABILITY IMAP4rev2 STARTTLS AUTH=GSSAPI LOGINDISABLED\r\n"
    )
    assert responses.enabled(["CONDSTORE"]).to_bytes() == b"* ENABLED CONDSTORE\r\n"
    assert responses.exists(23).to_bytes() == b"* 23 EXISTS\r\n"
    assert responses.expunge(44).to_bytes() == b"* 44 EXPUNGE\r\n"
    assert responses.flags(["\\Answered", "\\Flagged", "$MDNSent"]).to_bytes() == (
        b"* FLAGS (\\Answered \\Flagged $MDNSent)\r\n"
    )
    assert responses.list_mailbox("foo", attributes=["\\Noselect"], delimiter="/").to_bytes() == (
        b'* LIST (\\Noselect) "/" foo\r\n'
    )
    assert responses.list_mailbox("~/Mail/foo", delimiter=None).to_bytes() == b"* LIST () NIL ~/Mail/foo\r\n"
    extended = responses.list_mailbox("Foo", attributes=["\\Subscribed"], extended={"CHILDINFO": ["SUBSCRIBED"]})
    assert extended.to_bytes() == b'* LIST (\\Subscribed) "/" Foo ("CHILDINFO" ("SUBSCRIBED"))\r\n'
    assert responses.status("blurdybloop", {"MESSAGES": 231, "UIDNEXT": 44292}).to_bytes() == (
        b"* STATUS blurdybloop (MESSAGES 231 UIDNEXT 44292)\r\n"
    )
    assert responses.namespace([("", "/")], None, [("Public Folders/", "/")]).to_bytes() == (
        b'* NAMESPACE (("" "/")) NIL (("Public Folders/" "/"))\r\n'
    )
    assert responses.id_response({"name": "Cyrus", "version": "1.5"}).to_bytes() == (
        b'* ID ("name" "Cyrus" "version" "1.5")\r\n'
    )
    assert responses.id_response(None).to_bytes() == b"* ID NIL\r\n"


def test_search_family_rfc4731_rfc5256_rfc7162() -> None:
    assert responses.search([2, 84, 882]).to_bytes() == b"* SEARCH 2 84 882\r\n"
    assert responses.search([]).to_bytes() == b"* SEARCH\r\n"
    assert responses.search([2, 5, 6], modseq=917162500).to_bytes() == b"* SEARCH 2 5 6 (MODSEQ 917162500)\r\n"
    esearch = responses.esearch(tag="A282", uid=False, min=2, count=3)
    assert esearch.to_bytes() == b'* ESEARCH (TAG "A282") MIN 2 COUNT 3\r\n'
    esearch = responses.esearch(tag="A283", uid=True, all=SequenceSet.parse("2,10:11"))
    assert esearch.to_bytes() == b'* ESEARCH (TAG "A283") UID ALL 2,10:11\r\n'
    assert responses.esearch(tag="A284", uid=False).to_bytes() == b'* ESEARCH (TAG "A284")\r\n'
    assert responses.sort([2, 3, 6]).to_bytes() == b"* SORT 2 3 6\r\n"
    assert responses.thread([2, [3, 6, [4, 23], [44, 7, 96]]]).to_bytes() == b"* THREAD (2)(3 6 (4 23)(44 7 96))\r\n"
    assert responses.thread([[3, 6], [4, 23]]).to_bytes() == b"* THREAD (3 6)(4 23)\r\n"
    assert responses.thread([[[3], [5]]]).to_bytes() == b"* THREAD ((3)(5))\r\n"
    assert responses.vanished(SequenceSet.parse("41,43:116")).to_bytes() == b"* VANISHED 41,43:116\r\n"
    assert responses.vanished(SequenceSet.parse("300:310"), earlier=True).to_bytes() == (
        b"* VANISHED (EARLIER) 300:310\r\n"
    )


def test_quota_and_acl_rfc9208_rfc4314() -> None:
    assert responses.quotaroot("INBOX", [""]).to_bytes() == b'* QUOTAROOT INBOX ""\r\n'
    assert responses.quota("", {"STORAGE": (10, 512)}).to_bytes() == b'* QUOTA "" (STORAGE 10 512)\r\n'
    assert responses.acl("INBOX", [("Fred", "rwipsldexta")]).to_bytes() == b"* ACL INBOX Fred rwipsldexta\r\n"
    assert responses.listrights("~/Mail/saved", "smith", "la", ["r", "swicdkxte"]).to_bytes() == (
        b"* LISTRIGHTS ~/Mail/saved smith la r swicdkxte\r\n"
    )
    assert responses.myrights("INBOX", "rwiptsldaex").to_bytes() == b"* MYRIGHTS INBOX rwiptsldaex\r\n"


def test_fetch_responses() -> None:
    when = datetime(1996, 7, 17, 2, 44, 25, tzinfo=timezone(timedelta(hours=-7)))
    out = responses.fetch(12, [("FLAGS", [Atom("\\Seen")]), ("INTERNALDATE", when), ("UID", 4827313)])
    assert out.to_bytes() == b'* 12 FETCH (FLAGS (\\Seen) INTERNALDATE "17-Jul-1996 02:44:25 -0700" UID 4827313)\r\n'
    assert responses.fetch(1, [("BODY[]<0>", b"ab")]).to_bytes() == b"* 1 FETCH (BODY[]<0> {2}\r\nab)\r\n"
    assert responses.fetch(1, [("BINARY[1]", b"a\0b")]).to_bytes() == b"* 1 FETCH (BINARY[1] ~{3}\r\na\0b)\r\n"
    assert responses.fetch(1, [("BINARY[1]", b"ab")]).to_bytes() == b"* 1 FETCH (BINARY[1] {2}\r\nab)\r\n"
    assert responses.fetch(1, {"BODY[HEADER.FIELDS (FROM)]": b""}).to_bytes() == (
        b"* 1 FETCH (BODY[HEADER.FIELDS (FROM)] {0}\r\n)\r\n"
    )
    assert responses.fetch(4, [("MODSEQ", [12121231000]), ("UID", 8)]).to_bytes() == (
        b"* 4 FETCH (MODSEQ (12121231000) UID 8)\r\n"
    )
    with pytest.raises(LocalProtocolError):
        responses.fetch(1, [("INTERNALDATE", datetime(2000, 1, 1))]).to_bytes()


def test_body_structure_multipart_and_message() -> None:
    structure = {
        "type": "multipart",
        "subtype": "mixed",
        "params": [["boundary", "x"]],
        "children": [
            {"type": "text", "subtype": "plain", "params": [["charset", "us-ascii"]], "size": 1152, "lines": 23},
            {
                "type": "text",
                "subtype": "plain",
                "params": [["charset", "us-ascii"], ["name", "cc.diff"]],
                "id": "<960723163407.20117h@cac.washington.edu>",
                "description": "Compiler diff",
                "encoding": "base64",
                "size": 4554,
                "lines": 73,
            },
        ],
    }
    assert encode_value(responses.body_structure(structure, extensible=False)) == (
        b'(("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 1152 23)'
        b'("TEXT" "PLAIN" ("CHARSET" "us-ascii" "NAME" "cc.diff") '
        b'"<960723163407.20117h@cac.washington.edu>" "Compiler diff" "BASE64" 4554 73) "MIXED")'
    )
    assert encode_value(responses.body_structure(structure)).endswith(b' "MIXED" ("BOUNDARY" "x") NIL NIL NIL)')
    inner = {"type": "text", "subtype": "plain", "size": 3, "lines": 1}
    message = {"type": "message", "subtype": "rfc822", "size": 10, "lines": 2, "envelope": {"subject": "s"}}
    message["message"] = inner
    assert encode_value(responses.body_structure(message, extensible=False)) == (
        b'("MESSAGE" "RFC822" NIL NIL NIL "7BIT" 10 (NIL "s" NIL NIL NIL NIL NIL NIL NIL NIL) '
        b'("TEXT" "PLAIN" NIL NIL NIL "7BIT" 3 1) 2)'
    )
    attachment = {"type": "application", "subtype": "pdf", "size": 5, "disposition": "attachment",
                  "disposition_params": [["filename", "a.pdf"]], "language": ["en"]}  # fmt: skip
    assert encode_value(responses.body_structure(attachment)) == (
        b'("APPLICATION" "PDF" NIL NIL NIL "7BIT" 5 NIL ("ATTACHMENT" ("FILENAME" "a.pdf")) "en" NIL)'
    )


def _astring_of(encoded: bytes, *, utf8: bool = False) -> str:
    """Parse ``encoded`` back as a command argument (through the framing reader)."""
    command = parse(b"t LOGIN " + encoded + b" x", utf8=utf8)
    return command.username


numbers = st.one_of(st.none(), st.integers(min_value=1, max_value=4294967295))
sets = st.one_of(
    st.just(SequenceSet(saved=True)),
    st.lists(st.builds(SeqRange, numbers, numbers), min_size=1, max_size=20).map(tuple).map(SequenceSet),
)
text_strategy = st.text(alphabet=st.characters(exclude_categories=("Cs",), exclude_characters="\0"))


@settings(deadline=None)  # no timing assertions: the machine may be busy
@given(text_strategy)
def test_string_round_trip_through_the_parser(text: str) -> None:
    assert _astring_of(encode_string(text)) == text


@settings(deadline=None)  # no timing assertions: the machine may be busy
@given(text_strategy)
def test_string_round_trip_utf8_mode(text: str) -> None:
    assert _astring_of(encode_string(text, utf8=True), utf8=True) == text


@settings(deadline=None)  # no timing assertions: the machine may be busy
@given(st.text(alphabet=st.characters(exclude_categories=("Cs", "Cc"))).filter(lambda s: s.upper() != "INBOX"))
def test_mailbox_round_trip_both_modes(name: str) -> None:
    for utf8 in (False, True):
        encoded = encode_value(Mailbox(name), utf8=utf8)
        assert parse(b"t SELECT " + encoded, utf8=utf8).mailbox == name


def test_round_trip_keeps_literals_whole() -> None:
    continuation, unit = frame(b"t LOGIN " + encode_string("a\r\nb") + b" x\r\n")
    assert isinstance(continuation, ContinueLiteral)
    assert isinstance(unit, CommandUnit) and unit.parts[1] == LiteralValue(b"a\r\nb")


@settings(deadline=None)  # no timing assertions: the machine may be busy
@given(sets)
def test_sequence_set_round_trip_through_the_parser(value: SequenceSet) -> None:
    command = parse(b"t UID FETCH " + encode_value(value) + b" FLAGS")
    assert command.sequence_set == value


def test_body_structure_of_degenerate_messages() -> None:
    empty_multipart = {"type": "multipart", "subtype": "mixed"}
    assert encode_value(responses.body_structure(empty_multipart, extensible=False)) == (
        b'(("TEXT" "PLAIN" NIL NIL NIL "7BIT" 0 0) "MIXED")'
    )
    assert encode_value(responses.body_structure(empty_multipart)) == (
        b'(("TEXT" "PLAIN" NIL NIL NIL "7BIT" 0 0 NIL NIL NIL NIL) "MIXED" NIL NIL NIL NIL)'
    )
    bodyless = {"type": "message", "subtype": "rfc822", "size": 0}
    assert encode_value(responses.body_structure(bodyless, extensible=False)) == (
        b'("MESSAGE" "RFC822" NIL NIL NIL "7BIT" 0 (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) '
        b'("TEXT" "PLAIN" NIL NIL NIL "7BIT" 0 0) 0)'
    )


def test_fetch_takes_plain_python_values() -> None:
    out = responses.fetch(3, [("FLAGS", ["\\Seen", "$Forwarded"]), ("MODSEQ", 12), ("UID", 7)])
    assert out.to_bytes() == b"* 3 FETCH (FLAGS (\\Seen $Forwarded) MODSEQ (12) UID 7)\r\n"
    assert responses.fetch(3, {"FLAGS": []}).to_bytes() == b"* 3 FETCH (FLAGS ())\r\n"


def test_raw_responses_pass_through_whole_lines_only() -> None:
    assert responses.Raw(b"* 1 FETCH (UID 5)\r\n").to_bytes() == b"* 1 FETCH (UID 5)\r\n"
    with pytest.raises(LocalProtocolError):
        responses.Raw(b"* 1 FETCH (UID 5)").to_bytes()
