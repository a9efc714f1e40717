"""The command grammar, with the examples of RFC 9051 section 6 and the extension RFCs."""

from datetime import datetime, timedelta, timezone

import pytest

from services.imap.protocol import commands as c
from services.imap.protocol.sequence import SeqRange, SequenceSet
from tests.imap.framing import parse, parse_error


def test_any_state_commands() -> None:
    assert parse(b"abcd CAPABILITY") == c.Capability("abcd")
    assert parse(b"a002 NOOP") == c.Noop("a002")
    assert parse(b"A023 LOGOUT") == c.Logout("A023")
    assert parse(b"a1 noop").name == "NOOP"


def test_id_rfc2971() -> None:
    command = parse(b'a023 ID ("name" "sodr" "version" "19.34" "vendor" "Pink Floyd Music Limited")')
    assert command == c.Id("a023", (("name", "sodr"), ("version", "19.34"), ("vendor", "Pink Floyd Music Limited")))
    assert parse(b"a042 ID NIL") == c.Id("a042", None)
    assert parse(b'a1 ID ("os" NIL)') == c.Id("a1", (("os", None),))


def test_login_with_atoms_quoted_and_literals() -> None:
    assert parse(b"a001 LOGIN SMITH SESAME") == c.Login("a001", "SMITH", "SESAME")
    assert parse(b'a1 LOGIN "fred foobar" "pass \\"word\\" \\\\"') == c.Login("a1", "fred foobar", 'pass "word" \\')
    assert parse(b"a1 LOGIN {11+}\r\nFRED FOOBAR {7+}\r\nfat man") == c.Login("a1", "FRED FOOBAR", "fat man")
    assert parse(b"a1 LOGIN ]x[ y") == c.Login("a1", "]x[", "y")


def test_login_password_is_not_in_repr() -> None:
    assert "SESAME" not in repr(parse(b"a001 LOGIN SMITH SESAME"))


def test_authenticate_with_and_without_initial_response() -> None:
    assert parse(b"a001 AUTHENTICATE GSSAPI") == c.Authenticate("a001", "GSSAPI", None)
    assert parse(b"A01 AUTHENTICATE PLAIN dGVzdAB0ZXN0AHRlc3Q=") == c.Authenticate("A01", "PLAIN", b"test\0test\0test")
    assert parse(b"a1 AUTHENTICATE plain =") == c.Authenticate("a1", "PLAIN", b"")
    assert parse_error(b"a1 AUTHENTICATE PLAIN dGVzd") == "Invalid base64"


def test_starttls_enable() -> None:
    assert parse(b"a001 STARTTLS") == c.StartTls("a001")
    assert parse(b"t2 ENABLE CONDSTORE X-GOOD-IDEA") == c.Enable("t2", ("CONDSTORE", "X-GOOD-IDEA"))
    assert parse(b"a1 ENABLE utf8=accept") == c.Enable("a1", ("UTF8=ACCEPT",))
    assert parse_error(b"a1 ENABLE") == "Expected a space"


def test_select_examine_condstore_qresync_rfc7162() -> None:
    assert parse(b"A142 SELECT INBOX") == c.Select("A142", "INBOX")
    assert parse(b"A932 EXAMINE blurdybloop") == c.Select("A932", "blurdybloop", read_only=True)
    assert parse(b"A932 EXAMINE x").name == "EXAMINE"
    assert parse(b"a SELECT inBox (CONDSTORE)") == c.Select("a", "INBOX", condstore=True)
    command = parse(b"A02 SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))")
    assert command.qresync == c.QresyncParams(67890007, 20050715194045000, SequenceSet.parse("41,43:211,214:541"))
    command = parse(
        b"B04 SELECT INBOX (QRESYNC (67890007 90060115194045000 1:29997 (5000,7500,9000,9990:9999 "
        b"15000,22500,27000,29970,29973,29976,29979,29982,29985,29988,29991,29994,29997)))"
    )
    qresync = command.qresync
    assert qresync.known_uids == SequenceSet.parse("1:29997")
    assert qresync.known_sequence == SequenceSet.parse("5000,7500,9000,9990:9999")
    assert str(qresync.known_sequence_uids).startswith("15000,22500")
    assert parse(b"a SELECT INBOX (QRESYNC (1 2))").qresync == c.QresyncParams(1, 2)
    assert parse_error(b"a SELECT INBOX (FOO)") == "Unknown SELECT parameter FOO"
    assert parse_error(b"a SELECT INBOX ()") == "Empty list"


def test_mailbox_management() -> None:
    assert parse(b"A003 CREATE owatagusiam/") == c.Create("A003", "owatagusiam/")
    assert parse(b"t1 CREATE MySpecial (USE (\\Drafts \\Sent))") == c.Create("t1", "MySpecial", ("\\Drafts", "\\Sent"))
    assert parse(b"A683 DELETE blurdybloop") == c.Delete("A683", "blurdybloop")
    assert parse(b"A683 RENAME blurdybloop sarasoop") == c.Rename("A683", "blurdybloop", "sarasoop")
    assert parse(b"A002 SUBSCRIBE #news.comp.mail.mime") == c.Subscribe("A002", "#news.comp.mail.mime")
    assert parse(b"A002 UNSUBSCRIBE #news.comp.mail.mime") == c.Unsubscribe("A002", "#news.comp.mail.mime")
    assert parse(b"A042 STATUS blurdybloop (UIDNEXT MESSAGES)") == c.Status(
        "A042", "blurdybloop", ("UIDNEXT", "MESSAGES")
    )
    assert parse(b"a STATUS x (SIZE DELETED HIGHESTMODSEQ APPENDLIMIT)").items[-1] == "APPENDLIMIT"
    assert parse_error(b"a STATUS x (BOGUS)") == "Unknown STATUS item BOGUS"
    assert parse(b"A1 NAMESPACE") == c.Namespace("A1")


def test_list_classic_and_extended_rfc5258() -> None:
    assert parse(b'A101 LIST "" ""') == c.List("A101", "", ("",))
    assert parse(b"A102 LIST #news.comp.mail.misc %") == c.List("A102", "#news.comp.mail.misc", ("%",))
    assert parse(b"A202 LIST ~/Mail/ %") == c.List("A202", "~/Mail/", ("%",))
    command = parse(b'A02 LIST (SUBSCRIBED) "" "*"')
    assert command.selection == ("SUBSCRIBED",) and command.extended
    command = parse(b'A03 LIST () "" "%" RETURN (CHILDREN)')
    assert command.selection == () and command.return_options == ("CHILDREN",)
    command = parse(b'A05 LIST (REMOTE SUBSCRIBED) "" "*"')
    assert command.selection == ("REMOTE", "SUBSCRIBED")
    command = parse(b'A07 LIST "" ("INBOX" "Drafts" "Sent/%")')
    assert command.patterns == ("INBOX", "Drafts", "Sent/%")
    command = parse(b'A01 LIST "" % RETURN (STATUS (MESSAGES UNSEEN))')
    assert command.return_options == ("STATUS",) and command.status_items == ("MESSAGES", "UNSEEN")
    command = parse(b't1 LIST (SPECIAL-USE) "" "*" RETURN (SPECIAL-USE)')
    assert command.selection == ("SPECIAL-USE",) and command.return_options == ("SPECIAL-USE",)
    assert parse_error(b'a LIST (RECURSIVEMATCH) "" %') == "RECURSIVEMATCH needs another selection option"
    assert parse_error(b'a LIST (BOGUS) "" %') == "Unknown LIST selection option BOGUS"
    assert parse(b'a LSUB "#news." "comp.mail.*"') == c.Lsub("a", "#news.", "comp.mail.*")


def test_append_rfc9051_and_multiappend() -> None:
    command = parse(b"A003 APPEND saved-messages (\\Seen) {310+}\r\n" + b"x" * 310)
    (message,) = command.messages
    assert command.mailbox == "saved-messages" and message.flags == ("\\Seen",) and message.size == 310
    command = parse(b'A1 APPEND INBOX "17-Jul-1996 02:44:25 -0700" {1+}\r\nx')
    assert command.messages[0].internal_date == datetime(1996, 7, 17, 2, 44, 25, tzinfo=timezone(timedelta(hours=-7)))
    command = parse(b'A1 APPEND INBOX " 7-Feb-1994 21:52:25 +0100" {1+}\r\nx')
    assert command.messages[0].internal_date.day == 7
    command = parse(b"A003 APPEND saved (\\Seen) {3+}\r\nabc (\\Draft) {2+}\r\nde ~{2+}\r\n\0f")
    assert [(m.flags, m.size, m.binary) for m in command.messages] == [
        (("\\Seen",), 3, False), (("\\Draft",), 2, False), ((), 2, True)
    ]  # fmt: skip
    assert parse(b"A1 APPEND {5+}\r\nINBOX {1+}\r\nx").mailbox == "INBOX"
    assert parse_error(b"A1 APPEND INBOX") == "APPEND needs a message"
    assert parse_error(b'A1 APPEND INBOX "x"') == 'Expected a date-time such as "17-Jul-1996 02:44:25 -0700"'
    assert parse_error(b'A1 APPEND INBOX "31-Feb-1996 02:44:25 -0700" {1+}\r\nx') == "Invalid date-time"


def test_selected_state_simple_commands() -> None:
    assert parse(b"FXXZ CHECK") == c.Check("FXXZ")
    assert parse(b"A341 CLOSE") == c.Close("A341")
    assert parse(b"A342 UNSELECT") == c.Unselect("A342")
    assert parse(b"A202 EXPUNGE") == c.Expunge("A202")
    assert parse(b"A003 UID EXPUNGE 3000:3002") == c.Expunge("A003", SequenceSet.parse("3000:3002"))
    assert parse(b"A003 UID EXPUNGE 3000:3002").name == "UID EXPUNGE"
    assert parse(b"a1 IDLE") == c.Idle("a1")


def test_store_rfc9051_and_unchangedsince_rfc7162() -> None:
    assert parse(b"A003 STORE 2:4 +FLAGS (\\Deleted)") == c.Store(
        "A003", SequenceSet.parse("2:4"), "add", False, ("\\Deleted",)
    )
    command = parse(b"a STORE 1 -FLAGS.SILENT \\Seen $Forwarded")
    assert (command.mode, command.silent, command.flags) == ("remove", True, ("\\Seen", "$Forwarded"))
    command = parse(b"a103 UID STORE 6,4,8 (UNCHANGEDSINCE 12121230045) +FLAGS.SILENT (\\Deleted)")
    assert command.uid and command.unchanged_since == 12121230045 and command.sequence_set == SequenceSet.of(6, 4, 8)
    assert parse(b"a STORE $ FLAGS ()").flags == ()
    assert parse_error(b"a STORE 1 +FLAGS (\\Recent)") == "\\Recent cannot be stored"
    assert parse_error(b"a STORE 1 FLAGZ (x)") == "Expected FLAGS or FLAGS.SILENT"


def test_copy_move_uid() -> None:
    assert parse(b"A003 COPY 2:4 MEETING") == c.Copy("A003", SequenceSet.parse("2:4"), "MEETING")
    assert parse(b"a UID MOVE 42:69 foo") == c.Move("a", SequenceSet.parse("42:69"), "foo", uid=True)
    assert parse(b"a uid copy 1:* Trash").name == "UID COPY"
    assert parse_error(b"a UID LOGIN x y") == "UID LOGIN is not a command"


def test_quota_rfc9208_and_acl_rfc4314() -> None:
    assert parse(b'G0001 GETQUOTA "!partition/sda4"') == c.GetQuota("G0001", "!partition/sda4")
    assert parse(b"G0002 GETQUOTAROOT INBOX") == c.GetQuotaRoot("G0002", "INBOX")
    assert parse(b'S0000 SETQUOTA "#user/alice" (STORAGE 510)') == c.SetQuota(
        "S0000", "#user/alice", (("STORAGE", 510),)
    )
    assert parse(b'S1 SETQUOTA "" ()') == c.SetQuota("S1", "", ())
    assert parse(b"A035 SETACL INBOX/Drafts John lrswicda") == c.SetAcl("A035", "INBOX/Drafts", "John", "lrswicda")
    assert parse(b"A036 SETACL INBOX/Drafts Fred -w").rights == "-w"
    assert parse(b'a1 SETACL "Other Users/alice@example.test/Projects" anyone +lr').rights == "+lr"
    assert parse(b'a1 SETACL Projects bob ""') == c.SetAcl("a1", "Projects", "bob", "")
    # RFC 4314 section 3.1: a right the server does not know is a BAD (RFC 4314's own "Q" example).
    assert parse_error(b"A035 SETACL INBOX/Drafts John lrQswicda") == "Unknown right 'Q' (rights are lrswipkxtea)"
    assert parse_error(b"a1 SETACL x bob +LR") == "Unknown right 'L' (rights are lrswipkxtea)"
    assert parse_error(b"a1 SETACL x bob lr0") == "Unknown right '0' (rights are lrswipkxtea)"
    assert parse_error(b"a1 SETACL x bob") == "Expected a space"
    assert parse(b"A002 DELETEACL INBOX/Drafts John") == c.DeleteAcl("A002", "INBOX/Drafts", "John")
    assert parse(b"A002 GETACL INBOX") == c.GetAcl("A002", "INBOX")
    assert parse(b"a001 LISTRIGHTS ~/Mail/saved smith") == c.ListRights("a001", "~/Mail/saved", "smith")
    assert parse(b"A003 MYRIGHTS INBOX") == c.MyRights("A003", "INBOX")


def test_compress() -> None:
    assert parse(b"a COMPRESS DEFLATE") == c.Compress("a", "DEFLATE")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"", "Missing or invalid tag"),
        (b"a1", "Missing command"),
        (b"a1 ", "Missing command"),
        (b"a1 FROB", "Unknown command FROB"),
        (b"a1 NOOP extra", "Unexpected characters at end of command"),
        (b"a1  NOOP", "Expected a command name"),
        (b'a1 LOGIN "unterminated', "Unterminated quoted string"),
        (b'a1 LOGIN "bad \\x escape" y', 'Invalid escape in quoted string (only \\\\ and \\" are allowed)'),
        (b"a1 FETCH 0 FLAGS", "Invalid sequence set: not a sequence number: '0'"),
        (b"a1 FETCH 1:4294967296 FLAGS", "Invalid sequence set: sequence number out of range: 4294967296"),
        (b"a1 FETCH 1,,2 FLAGS", "Invalid sequence set: not a sequence number: ''"),
        (b"a1 SELECT (CONDSTORE)", "Expected an atom or string"),
    ],
)
def test_syntax_errors_name_the_problem(line: bytes, message: str) -> None:
    assert parse_error(line) == message


def test_sequence_sets_with_star_and_saved_result() -> None:
    assert parse(b"a FETCH 1:* FLAGS").sequence_set == SequenceSet((SeqRange(1, None),))
    assert parse(b"a FETCH *:4 FLAGS").sequence_set == SequenceSet((SeqRange(None, 4),))
    assert parse(b"a FETCH $ FLAGS").sequence_set.saved
    assert parse(b"a UID SEARCH UID $").criteria.value.saved
