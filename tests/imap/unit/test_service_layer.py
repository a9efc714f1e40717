"""The service layer's pure parts: sections as byte ranges, header filters, BINARY decoding,
the sequence map, LIST patterns, SORT and THREAD, and login refusals."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.imap import _auth
from services.imap._fetch import decode_transfer, filter_header, section_range, storage_items, with_sizes
from services.imap._mailbox import SelectedMailbox, compact
from services.imap._mailboxes import pattern_regex
from services.imap._search import simplify_subject, sort_messages, thread_orderedsubject, thread_references
from services.imap._store import MessageData, uid_ranges
from services.imap.protocol import FetchAttribute, Section, SequenceSet

# A multipart/mixed message: header 0..100, part 1 (text) and part 2 (message/rfc822).
STRUCTURE = {
    "size": 1000,
    "header_end": 100,
    "root": {
        "section": "", "start": 0, "header_end": 100, "end": 1000, "type": "multipart", "subtype": "mixed",
        "children": [
            {"section": "1", "start": 120, "header_end": 160, "end": 300, "type": "text", "subtype": "plain",
             "lines": 3},
            {"section": "2", "start": 320, "header_end": 360, "end": 980, "type": "message", "subtype": "rfc822",
             "message": {"section": "2", "start": 360, "header_end": 500, "end": 980, "type": "text",
                         "subtype": "plain", "lines": 9}},
        ],
    },
}  # fmt: skip


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        (Section(), (0, 1000)),
        (Section(text="HEADER"), (0, 100)),
        (Section(text="TEXT"), (100, 1000)),
        (Section(part=(1,)), (160, 300)),
        (Section(part=(1,), text="MIME"), (120, 160)),
        (Section(part=(2,), text="HEADER"), (360, 500)),
        (Section(part=(2,), text="TEXT"), (500, 980)),
        (Section(part=(2, 1)), (500, 980)),
        (Section(part=(3,)), None),
        (Section(part=(1,), text="HEADER"), None),
    ],
)
def test_sections_are_byte_ranges_of_the_stored_part_tree(section: Section, expected: object) -> None:
    assert section_range(STRUCTURE, section) == expected


def test_bodystructure_sizes_come_from_offsets() -> None:
    sized = with_sizes(STRUCTURE["root"])
    assert [child["size"] for child in sized["children"]] == [140, 620]
    assert sized["children"][1]["message"]["size"] == 480


def test_header_fields_filter_keeps_folded_lines() -> None:
    block = b"From: a@x\r\nSubject: one\r\n two\r\nTo: b@y\r\n\r\n"
    assert filter_header(block, ("subject",), exclude=False) == b"Subject: one\r\n two\r\n\r\n"
    assert filter_header(block, ("Subject",), exclude=True) == b"From: a@x\r\nTo: b@y\r\n\r\n"


def test_binary_undoes_transfer_encodings() -> None:
    assert decode_transfer(b"AAEC\r\nAw==\r\n", "base64") == b"\x00\x01\x02\x03"
    assert decode_transfer(b"caf=C3=A9=\r\n!", "quoted-printable") == "café!".encode()
    assert decode_transfer(b"plain", None) == b"plain"


def test_storage_items_asked_for_each_fetch_item() -> None:
    assert storage_items((FetchAttribute("FLAGS"), FetchAttribute("RFC822.SIZE"))) == {"modseq", "flags", "size"}
    assert "blob" in storage_items((FetchAttribute("BODY", Section(part=(1,)), peek=True),))
    assert "flags" in storage_items((FetchAttribute("BODY", Section()),))  # sets \Seen


def test_sequence_map_resolves_numbers_uids_and_star() -> None:
    box = SelectedMailbox("INBOX", uidvalidity=1, uids=[3, 5, 9, 10], highest_modseq=1, read_only=False)
    assert box.resolve(SequenceSet.parse("2:*"), uid=False) == [5, 9, 10]
    assert box.resolve(SequenceSet.parse("4:6,*"), uid=True) == [5, 10]
    assert box.resolve(SequenceSet.parse("*:4"), uid=False) == [10]
    assert box.seq_of(9) == 3 and box.seq_of(4) is None
    assert not box.all_seq_in(SequenceSet.parse("5"))
    assert box.all_seq_in(SequenceSet.parse("1:*"))
    empty = SelectedMailbox("Empty", uidvalidity=1, uids=[], highest_modseq=1, read_only=False)
    assert empty.all_seq_in(SequenceSet.parse("1:*")) and empty.resolve(SequenceSet.parse("1:*"), uid=False) == []
    assert not empty.all_seq_in(SequenceSet.parse("1"))
    assert box.forget([5, 10]) == [4, 2]
    assert box.uids == [3, 9]
    box.saved = [9, 10]
    assert box.resolve(SequenceSet(saved=True), uid=False) == [9]


def test_compact_and_uid_ranges() -> None:
    assert str(compact([7, 1, 2, 3, 5])) == "1:3,5,7"
    assert [(r.first, r.last) for r in uid_ranges([4, 2, 3, 9])] == [(2, 4), (9, 9)]


@pytest.mark.parametrize(
    ("reference", "pattern", "name", "matches"),
    [
        ("", "*", "a/b/c", True),
        ("", "%", "a/b", False),
        ("", "a/%", "a/b", True),
        ("a/", "%", "a/b", True),
        ("", "inbox", "INBOX", True),
        ("", "Inbox/%", "INBOX/x", True),
        ("", "a.b", "aXb", False),
    ],
)
def test_list_patterns(reference: str, pattern: str, name: str, matches: bool) -> None:
    assert bool(pattern_regex(reference, pattern).fullmatch(name)) is matches


def _message(
    uid: int, subject: str, day: int, *, message_id: str, references: str = "", sender: str = ""
) -> MessageData:
    return MessageData(
        uid=uid, modseq=1, size=uid * 10, internal_date=datetime(2026, 1, day, tzinfo=UTC),
        envelope={"from": [[None, None, sender or f"u{uid}", "x.test"]]},
        headers={"subject": subject, "sent_date": datetime(2026, 1, day, tzinfo=UTC).isoformat(),
                 "message_id": message_id, "references": references},
    )  # fmt: skip


MESSAGES = [
    _message(1, "Plan", 1, message_id="<a@x>", sender="zed"),
    _message(2, "Re: Plan", 3, message_id="<b@x>", references="<a@x>", sender="amy"),
    _message(3, "Other", 2, message_id="<c@x>", sender="kim"),
    _message(4, "Re: Plan", 4, message_id="<d@x>", references="<a@x> <b@x>", sender="bo"),
    _message(5, "RE: [list] Re: Plan", 5, message_id="<e@x>", references="<a@x>", sender="al"),
]


def test_sort() -> None:
    assert sort_messages(MESSAGES, [("FROM", False)]) == [5, 2, 4, 3, 1]
    assert sort_messages(MESSAGES, [("DATE", True)]) == [5, 4, 2, 3, 1]
    assert sort_messages(MESSAGES, [("SUBJECT", False), ("SIZE", True)]) == [3, 5, 4, 2, 1]


def test_thread_references() -> None:
    assert thread_references(MESSAGES) == [[1, [2, 4], [5]], 3]


def test_thread_orderedsubject() -> None:
    assert simplify_subject("RE: [list] Re: Plan") == "plan"
    assert thread_orderedsubject(MESSAGES) == [[1, [2], [4], [5]], 3]


def test_failed_logins_get_rfc_5530_codes() -> None:
    from libs.auth.directory_client import AuthOutcome, AuthProblem

    assert _auth.refusal(AuthOutcome(None, AuthProblem.INVALID))[1].name == "AUTHENTICATIONFAILED"
    assert _auth.refusal(AuthOutcome(None, AuthProblem.UNAVAILABLE))[1].name == "UNAVAILABLE"
    assert _auth.refusal(AuthOutcome(None, AuthProblem.THROTTLED))[1].name == "UNAVAILABLE"


def test_fetch_responses_stream_large_sections() -> None:
    from services.imap._fetch import BlobRange, render_fetch

    pieces = render_fetch(
        3, [("UID", 9), ("FLAGS", ["\\Seen"]), ("BODY[]", BlobRange("ab" * 32, 10, 20)), ("RFC822.SIZE", 5)], utf8=False
    )
    assert pieces == [
        b"* 3 FETCH (UID 9 FLAGS (\\Seen) BODY[] {10}\r\n",
        BlobRange("ab" * 32, 10, 20),
        b" RFC822.SIZE 5)\r\n",
    ]
    assert render_fetch(1, [("BODY[TEXT]", b"a\0b")], utf8=False) == [b"* 1 FETCH (BODY[TEXT] {3}\r\na\0b", b")\r\n"]
    assert render_fetch(1, [("BODY[TEXT]", b"hi")], utf8=False) == [b"* 1 FETCH (BODY[TEXT] {2}\r\nhi)\r\n"]


def test_thread_references_groups_roots_by_subject() -> None:
    messages = [
        _message(6, "Meeting", 6, message_id="<f@x>"),
        _message(7, "Re: Meeting", 7, message_id="<g@x>"),  # a reply without References
        _message(8, "Lunch", 8, message_id="<h@x>"),
        _message(9, "Lunch", 9, message_id="<i@x>"),  # two originals: siblings under a dummy
        _message(10, "Other topic", 10, message_id="<j@x>"),
    ]
    assert thread_references(messages) == [[6, 7], [[8], [9]], 10]
    # The reply first, the original later: the original still becomes the parent.
    assert thread_references([messages[1], messages[0]][::1]) == [[6, 7]]
    assert thread_references(
        [
            _message(9, "Lunch", 1, message_id="<i@x>"),
            _message(8, "Lunch", 2, message_id="<h@x>"),
            _message(11, "Lunch", 3, message_id="<k@x>"),
        ]
    ) == [[[9], [8], [11]]]
