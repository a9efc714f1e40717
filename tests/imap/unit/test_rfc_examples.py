"""Server sides of RFC examples, replayed byte for byte through the session.

A scripted service answers each tag with response values built by
``responses``; the bytes on the wire must equal the RFC's ``S:`` lines. The
parsed commands are checked against what the RFC's ``C:`` lines mean.
"""

from collections.abc import Callable

from services.imap.protocol import CommandReceived, Session, responses
from services.imap.protocol.responses import Atom, ResponseCode
from services.imap.protocol.sequence import SequenceSet
from tests.imap.fakes import Exchange, make_config

Script = dict[str, tuple[list[responses.Response], str, str, ResponseCode | None]]


def scripted(script: Script) -> Callable[[Session, object], bytes]:
    def answer(session: Session, event: object) -> bytes:
        assert isinstance(event, CommandReceived)
        tag = event.command.tag
        if tag == "L":
            return session.login_succeeded("alice")
        untagged, status, text, code = script[tag]
        return session.untagged(*untagged) + session.complete(status, text, code)

    return answer


def play(script: Script, client: bytes, *, enable: bytes = b"", select: bool = False) -> tuple[Exchange, bytes]:
    exchange = Exchange(make_config(), answer=scripted(script))
    exchange.send(b"L LOGIN alice secret\r\n" + enable)
    if select:
        script.setdefault("S0", ([], "OK", "SELECT completed", responses.code("READ-WRITE")))
        exchange.send(b"S0 SELECT INBOX\r\n")
    return exchange, exchange.send(client)


def test_rfc7162_select_reports_highestmodseq() -> None:
    script: Script = {
        "A142": (
            [
                responses.exists(172),
                responses.ok("UIDs valid", code=responses.code("UIDVALIDITY", 3857529045)),
                responses.ok("Predicted next UID", code=responses.code("UIDNEXT", 4392)),
                responses.flags(["\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft"]),
                responses.ok("Limited", code=responses.code("PERMANENTFLAGS", ["\\Deleted", "\\Seen", "\\*"])),
                responses.ok("Highest", code=responses.code("HIGHESTMODSEQ", 715194045007)),
            ],
            "OK",
            "SELECT completed",
            responses.code("READ-WRITE"),
        )
    }
    exchange, out = play(script, b"A142 SELECT INBOX (CONDSTORE)\r\n")
    assert out == (
        b"* 172 EXISTS\r\n"
        b"* OK [UIDVALIDITY 3857529045] UIDs valid\r\n"
        b"* OK [UIDNEXT 4392] Predicted next UID\r\n"
        b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"
        b"* OK [PERMANENTFLAGS (\\Deleted \\Seen \\*)] Limited\r\n"
        b"* OK [HIGHESTMODSEQ 715194045007] Highest\r\n"
        b"A142 OK [READ-WRITE] SELECT completed\r\n"
    )
    assert exchange.session.condstore


def test_rfc7162_conditional_store() -> None:
    def modseq(seq: int, uid: int, value: int) -> responses.Untagged:
        return responses.fetch(seq, [("UID", uid), ("MODSEQ", [value])])

    script: Script = {
        "a103": (
            [modseq(1, 4, 12121231000), modseq(2, 6, 12121230852), modseq(4, 8, 12121230956)],
            "OK",
            "Conditional Store completed",
            None,
        ),
        "d105": (
            [responses.fetch(5, [("MODSEQ", [320162350])])],
            "OK",
            "Conditional STORE failed",
            responses.code("MODIFIED", SequenceSet.parse("7,9")),
        ),
    }
    exchange, out = play(
        script,
        b"a103 UID STORE 6,4,8 (UNCHANGEDSINCE 12121230045) +FLAGS.SILENT (\\Deleted)\r\n"
        b"d105 STORE 7,5,9 (UNCHANGEDSINCE 320162338) +FLAGS.SILENT (\\Deleted)\r\n",
        select=True,
    )
    assert out == (
        b"* 1 FETCH (UID 4 MODSEQ (12121231000))\r\n"
        b"* 2 FETCH (UID 6 MODSEQ (12121230852))\r\n"
        b"* 4 FETCH (UID 8 MODSEQ (12121230956))\r\n"
        b"a103 OK Conditional Store completed\r\n"
        b"* 5 FETCH (MODSEQ (320162350))\r\n"
        b"d105 OK [MODIFIED 7,9] Conditional STORE failed\r\n"
    )
    first, second = exchange.commands()[-2:]
    assert first.uid and first.unchanged_since == 12121230045 and second.unchanged_since == 320162338


PERMANENT = ["\\Answered", "\\Flagged", "\\Draft", "\\Deleted", "\\Seen", "\\*"]
SEEN_ANSWERED = [Atom("\\Seen"), Atom("\\Answered")]


def test_rfc7162_qresync_select_with_vanished_earlier() -> None:
    script: Script = {
        "A02": (
            [
                responses.exists(314),
                responses.ok("UIDVALIDITY", code=responses.code("UIDVALIDITY", 67890007)),
                responses.ok("Predicted next UID", code=responses.code("UIDNEXT", 567)),
                responses.flags(["\\Answered", "\\Flagged", "\\Draft", "\\Deleted", "\\Seen"]),
                responses.ok("Permanent flags", code=responses.code("PERMANENTFLAGS", PERMANENT)),
                responses.ok("Highest mailbox mod-sequence", code=responses.code("HIGHESTMODSEQ", 20060128194045007)),
                responses.vanished(SequenceSet.parse("41,43:116,118,120:211,214:540"), earlier=True),
                responses.fetch(49, [("UID", 117), ("FLAGS", SEEN_ANSWERED), ("MODSEQ", [20070212194045001])]),
            ],
            "OK",
            "SELECT completed",
            responses.code("READ-WRITE"),
        )
    }  # fmt: skip
    exchange, out = play(
        script,
        b"A02 SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))\r\n",
        enable=b"E ENABLE QRESYNC\r\n",
    )
    assert out == (
        b"* 314 EXISTS\r\n"
        b"* OK [UIDVALIDITY 67890007] UIDVALIDITY\r\n"
        b"* OK [UIDNEXT 567] Predicted next UID\r\n"
        b"* FLAGS (\\Answered \\Flagged \\Draft \\Deleted \\Seen)\r\n"
        b"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Draft \\Deleted \\Seen \\*)] Permanent flags\r\n"
        b"* OK [HIGHESTMODSEQ 20060128194045007] Highest mailbox mod-sequence\r\n"
        b"* VANISHED (EARLIER) 41,43:116,118,120:211,214:540\r\n"
        b"* 49 FETCH (UID 117 FLAGS (\\Seen \\Answered) MODSEQ (20070212194045001))\r\n"
        b"A02 OK [READ-WRITE] SELECT completed\r\n"
    )


DONE = ("OK", "SEARCH completed", None)


def test_rfc4731_esearch() -> None:
    script: Script = {
        "A282": ([responses.esearch(tag="A282", uid=False, min=2, count=3)], "OK", "SEARCH completed", None),
        "A283": ([responses.esearch(tag="A283", uid=False, all=SequenceSet.parse("2,10:11"))], *DONE),
        "A284": ([responses.esearch(tag="A284", uid=False)], "OK", "SEARCH completed", None),
        "A285": ([responses.esearch(tag="A285", uid=True, min=7, max=3800)], "OK", "SEARCH completed", None),
    }  # fmt: skip
    exchange, out = play(
        script,
        b'A282 SEARCH RETURN (MIN COUNT) FLAGGED SINCE 1-Feb-1994 NOT FROM "Smith"\r\n'
        b'A283 SEARCH RETURN () FLAGGED SINCE 1-Feb-1994 NOT FROM "Smith"\r\n'
        b'A284 SEARCH RETURN (MIN MAX COUNT) FLAGGED SINCE 1-Feb-1994 NOT FROM "Smith"\r\n'
        b"A285 UID SEARCH RETURN (MIN MAX) 1:5000\r\n",
        select=True,
    )
    assert out == (
        b'* ESEARCH (TAG "A282") MIN 2 COUNT 3\r\nA282 OK SEARCH completed\r\n'
        b'* ESEARCH (TAG "A283") ALL 2,10:11\r\nA283 OK SEARCH completed\r\n'
        b'* ESEARCH (TAG "A284")\r\nA284 OK SEARCH completed\r\n'
        b'* ESEARCH (TAG "A285") UID MIN 7 MAX 3800\r\nA285 OK SEARCH completed\r\n'
    )
    assert [c.return_options for c in exchange.commands()[-4:]] == [
        ("MIN", "COUNT"),
        (),
        ("MIN", "MAX", "COUNT"),
        ("MIN", "MAX"),
    ]


def test_rfc5256_sort_and_thread() -> None:
    script: Script = {
        "A282": ([responses.sort([2, 84, 882])], "OK", "SORT completed", None),
        "A283": ([responses.thread([[166], [167], [168], [169], [172], [170], [171], [173],
                                    [174, [175], [176], [178], [181], [180]], [179],
                                    [177, [183], [182], [188], [184], [185], [186], [187], [189]]])],
                 "OK", "THREAD completed", None),
    }  # fmt: skip
    exchange, out = play(
        script,
        b"A282 SORT (SUBJECT) UTF-8 SINCE 1-Feb-1994\r\nA283 THREAD REFERENCES UTF-8 SINCE 5-MAR-2000\r\n",
        select=True,
    )
    assert out == (
        b"* SORT 2 84 882\r\nA282 OK SORT completed\r\n"
        b"* THREAD (166)(167)(168)(169)(172)(170)(171)(173)(174 (175)(176)(178)(181)(180))(179)"
        b"(177 (183)(182)(188)(184)(185)(186)(187)(189))\r\nA283 OK THREAD completed\r\n"
    )


def test_rfc9208_quota_and_rfc4314_acl() -> None:
    script: Script = {
        "G0002": (
            [responses.quotaroot("INBOX", [""]), responses.quota("", {"STORAGE": (10, 512)})],
            "OK",
            "Getquotaroot completed",
            None,
        ),
        "A002": ([responses.acl("INBOX", [("Fred", "rwipsldexta")])], "OK", "Getacl complete", None),
        "a001": (
            [responses.listrights("~/Mail/saved", "smith", "la", ["r", "swicdkxte"])],
            "OK",
            "Listrights completed",
            None,
        ),
        "A003": ([responses.myrights("INBOX", "rwiptsldaex")], "OK", "Myrights complete", None),
        "S0000": ([], "NO", "Insufficient permission", responses.code("NOPERM")),
    }  # fmt: skip
    exchange, out = play(
        script,
        b"G0002 GETQUOTAROOT INBOX\r\nA002 GETACL INBOX\r\na001 LISTRIGHTS ~/Mail/saved smith\r\n"
        b'A003 MYRIGHTS INBOX\r\nS0000 SETQUOTA "#user/alice" (STORAGE 510)\r\n',
    )
    assert out == (
        b'* QUOTAROOT INBOX ""\r\n* QUOTA "" (STORAGE 10 512)\r\nG0002 OK Getquotaroot completed\r\n'
        b"* ACL INBOX Fred rwipsldexta\r\nA002 OK Getacl complete\r\n"
        b"* LISTRIGHTS ~/Mail/saved smith la r swicdkxte\r\na001 OK Listrights completed\r\n"
        b"* MYRIGHTS INBOX rwiptsldaex\r\nA003 OK Myrights complete\r\n"
        b"S0000 NO [NOPERM] Insufficient permission\r\n"
    )


def test_rfc9051_list_and_namespace() -> None:
    script: Script = {
        "A101": ([responses.list_mailbox("", attributes=["\\Noselect"], delimiter=".")], "OK", "List completed", None),
        "A102": ([responses.list_mailbox("#news.comp.mail.misc", delimiter=".", attributes=["\\HasNoChildren"])],
                 "OK", "List completed", None),
        "A001": ([responses.namespace([("", "/")], None, [("Public Folders/", "/")])],
                 "OK", "NAMESPACE command completed", None),
        "A042": ([responses.status("blurdybloop", {"MESSAGES": 231, "UIDNEXT": 44292})],
                 "OK", "STATUS completed", None),
    }  # fmt: skip
    exchange, out = play(
        script,
        b'A101 LIST "" ""\r\nA102 LIST #news.comp.mail.misc ""\r\nA001 NAMESPACE\r\n'
        b"A042 STATUS blurdybloop (UIDNEXT MESSAGES)\r\n",
    )
    assert out == (
        b'* LIST (\\Noselect) "." ""\r\nA101 OK List completed\r\n'
        b'* LIST (\\HasNoChildren) "." #news.comp.mail.misc\r\nA102 OK List completed\r\n'
        b'* NAMESPACE (("" "/")) NIL (("Public Folders/" "/"))\r\nA001 OK NAMESPACE command completed\r\n'
        b"* STATUS blurdybloop (MESSAGES 231 UIDNEXT 44292)\r\nA042 OK STATUS completed\r\n"
    )


def test_rfc4315_uidplus_codes() -> None:
    script: Script = {
        "A003": ([], "OK", "APPEND completed", responses.code("APPENDUID", "38505 3955")),
        "A004": ([], "OK", "Done", responses.code("COPYUID", "38505 304,319:320 3956:3958")),
        "A005": ([], "NO", "No such mailbox", responses.code("TRYCREATE")),
    }
    exchange, out = play(
        script,
        b"A003 APPEND saved-messages (\\Seen) {3+}\r\nabc\r\nA004 COPY 2:4 meeting\r\nA005 COPY 1 nowhere\r\n",
        select=True,
    )
    assert out == (
        b"A003 OK [APPENDUID 38505 3955] APPEND completed\r\n"
        b"A004 OK [COPYUID 38505 304,319:320 3956:3958] Done\r\n"
        b"A005 NO [TRYCREATE] No such mailbox\r\n"
    )
