"""SEARCH, SORT and THREAD criteria (RFC 9051 6.4.4, RFC 4731, RFC 5182, RFC 5256, RFC 7162)."""

from datetime import date

from services.imap.protocol.commands import SearchKey
from services.imap.protocol.sequence import SequenceSet
from tests.imap.framing import parse, parse_error


def key(op: str, value: object = None, **kwargs: object) -> SearchKey:
    return SearchKey(op, value, **kwargs)  # type: ignore[arg-type]


def test_rfc9051_examples() -> None:
    command = parse(b'A282 SEARCH RETURN (MIN COUNT) FLAGGED SINCE 1-Feb-1994 NOT FROM "Smith"')
    assert command.return_options == ("MIN", "COUNT")
    assert command.criteria == key(
        "and", keys=(key("flagged"), key("since", date(1994, 2, 1)), key("not", keys=(key("from", "Smith"),)))
    )
    command = parse(b'A284 SEARCH TEXT "string not in mailbox"')
    assert command.criteria == key("text", "string not in mailbox") and command.return_options is None
    text = "нет так".encode()
    command = parse(b"A285 SEARCH CHARSET UTF-8 TEXT {%d+}\r\n%s" % (len(text), text))
    assert command.charset == "UTF-8" and command.criteria == key("text", "нет так")
    command = parse(b'A286 SEARCH CHARSET WHATEVER text "x"')
    assert command.charset == "WHATEVER"
    command = parse(b"A301 SEARCH RETURN () FLAGGED")
    assert command.return_options == ()


def test_rfc4731_esearch_and_rfc5182_saved_results() -> None:
    command = parse(b"A282 UID SEARCH RETURN (MIN MAX ALL COUNT) 1:5000 UNSEEN")
    assert command.uid and command.return_options == ("MIN", "MAX", "ALL", "COUNT")
    assert command.criteria == key("and", keys=(key("seqset", SequenceSet.parse("1:5000")), key("unseen")))
    command = parse(b"A282 SEARCH RETURN (SAVE) FLAGGED SINCE 1-Feb-1994")
    assert command.return_options == ("SAVE",)
    command = parse(b"A283 SEARCH $ SMALLER 4096")
    assert command.criteria.keys[0].value.saved and command.criteria.keys[1] == key("smaller", 4096)
    assert parse_error(b"A1 SEARCH RETURN (BOGUS) ALL") == "Unknown SEARCH return option BOGUS"


def test_or_not_groups_and_all_rfc3501_keys() -> None:
    command = parse(b"a SEARCH OR (FROM a TO b) NOT (SUBJECT c) UID 1:* HEADER X-Spam yes")
    group = key("and", keys=(key("from", "a"), key("to", "b")))
    negated = key("not", keys=(key("and", keys=(key("subject", "c"),)),))
    assert command.criteria == key(
        "and",
        keys=(
            key("or", keys=(group, negated)),
            key("uid", SequenceSet.parse("1:*")),
            key("header", "yes", field="X-Spam"),
        ),
    )
    keys = (
        b"ALL ANSWERED BCC x BEFORE 1-Jan-2000 BODY x CC x DELETED DRAFT FLAGGED FROM x HEADER a b KEYWORD $x "
        b"LARGER 1 NEW OLD ON 2-Feb-2000 RECENT SEEN SENTBEFORE 1-Jan-2000 SENTON 1-Jan-2000 SENTSINCE 1-Jan-2000 "
        b"SINCE 1-Jan-2000 SMALLER 9 SUBJECT x TEXT x TO x UID 5 UNANSWERED UNDELETED UNDRAFT UNFLAGGED "
        b"UNKEYWORD $y UNSEEN NOT SEEN OR SEEN UNSEEN 1:3 OLDER 60 YOUNGER 60"
    )
    criteria = parse(b"a SEARCH " + keys).criteria
    assert criteria.op == "and" and len(criteria.keys) == 38
    assert criteria.keys[3] == key("before", date(2000, 1, 1))
    assert parse(b'a SEARCH ON "2-Feb-2000"').criteria == key("on", date(2000, 2, 2))


def test_modseq_rfc7162() -> None:
    assert parse(b"a SEARCH MODSEQ 20010320162338000").criteria == key("modseq", 20010320162338000)
    criteria = parse(b'a SEARCH MODSEQ "/flags/\\\\draft" all 620162338').criteria
    assert criteria == key("modseq", 620162338, field="/flags/\\draft", entry_type="all")
    assert parse_error(b'a SEARCH MODSEQ "/flags/x" every 1') == "MODSEQ entry type must be priv, shared or all"


def test_search_errors() -> None:
    assert parse_error(b"a SEARCH FROBNICATE") == "Unknown search key FROBNICATE"
    assert parse_error(b"a SEARCH SINCE 30-Feb-2000") == "Invalid date"
    assert parse_error(b"a SEARCH SINCE yesterday") == "Expected a date such as 1-Feb-1994"
    assert parse_error(b"a SEARCH (SEEN") == "Expected ')' to close the search group"
    assert parse_error(b"a SEARCH") == "Expected a space"
    assert parse_error(b"a SEARCH OR SEEN") == "Expected a space"


def test_sort_rfc5256() -> None:
    command = parse(b"A282 SORT (SUBJECT) UTF-8 SINCE 1-Feb-1994")
    assert command.sort_criteria == (("SUBJECT", False),) and command.charset == "UTF-8"
    command = parse(b"A283 SORT (SUBJECT REVERSE DATE) UTF-8 ALL")
    assert command.sort_criteria == (("SUBJECT", False), ("DATE", True))
    command = parse(b'A284 UID SORT RETURN (MIN COUNT) (REVERSE ARRIVAL) us-ascii TEXT "not in mailbox"')
    assert command.uid and command.return_options == ("MIN", "COUNT") and command.charset == "US-ASCII"
    assert parse_error(b"a SORT (BOGUS) UTF-8 ALL") == "Unknown sort key BOGUS"
    assert parse_error(b"a SORT () UTF-8 ALL") == "Empty list"


def test_thread_rfc5256() -> None:
    command = parse(b"A283 THREAD ORDEREDSUBJECT UTF-8 SINCE 5-MAR-2000")
    assert command.algorithm == "ORDEREDSUBJECT" and command.criteria == key("since", date(2000, 3, 5))
    command = parse(b'A284 UID THREAD REFERENCES US-ASCII TEXT "gewp"')
    assert command.uid and command.algorithm == "REFERENCES"
