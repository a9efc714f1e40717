"""FETCH items, macros and modifiers (RFC 9051 6.4.5, RFC 3516, RFC 7162)."""

import pytest

from services.imap.protocol.commands import FetchAttribute, Section
from services.imap.protocol.sequence import SequenceSet
from tests.imap.framing import parse, parse_error


def test_rfc9051_examples() -> None:
    command = parse(b"A654 FETCH 2:4 (FLAGS BODY[HEADER.FIELDS (DATE FROM)])")
    assert command.sequence_set == SequenceSet.parse("2:4")
    flags, body = command.attributes
    assert flags == FetchAttribute("FLAGS")
    assert body == FetchAttribute("BODY", Section((), "HEADER.FIELDS", ("DATE", "FROM")))
    assert body.response_name == "BODY[HEADER.FIELDS (DATE FROM)]"
    assert body.sets_seen


@pytest.mark.parametrize(
    ("macro", "names"),
    [
        (b"ALL", ["FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"]),
        (b"fast", ["FLAGS", "INTERNALDATE", "RFC822.SIZE"]),
        (b"FULL", ["FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"]),
    ],
)
def test_macros_expand(macro: bytes, names: list[str]) -> None:
    command = parse(b"a FETCH 1 " + macro)
    assert [a.name for a in command.attributes] == names
    assert command.macro == macro.decode().upper()


def test_sections_partials_and_peek() -> None:
    (item,) = parse(b"a FETCH 1 BODY.PEEK[1.2.MIME]").attributes
    assert item == FetchAttribute("BODY", Section((1, 2), "MIME"), peek=True)
    assert item.response_name == "BODY[1.2.MIME]" and not item.sets_seen
    (item,) = parse(b"a FETCH 1 BODY[]<0.2048>").attributes
    assert item.partial == (0, 2048) and item.response_name == "BODY[]<0>"
    (item,) = parse(b"a FETCH 1 body[3.header.fields.not (Received)]").attributes
    assert item.section == Section((3,), "HEADER.FIELDS.NOT", ("RECEIVED",))
    (item,) = parse(b"a FETCH 1 BODY[4.2.TEXT]<10.5>").attributes
    assert item.response_name == "BODY[4.2.TEXT]<10>"
    (item,) = parse(b"a FETCH 1 BODY").attributes
    assert item == FetchAttribute("BODY") and not item.sets_seen


def test_rfc822_items() -> None:
    names = [a.name for a in parse(b"a FETCH 1 (RFC822 RFC822.HEADER RFC822.TEXT RFC822.SIZE)").attributes]
    assert names == ["RFC822", "RFC822.HEADER", "RFC822.TEXT", "RFC822.SIZE"]
    assert [a.sets_seen for a in parse(b"a FETCH 1 (RFC822 RFC822.HEADER RFC822.TEXT)").attributes] == [
        True, False, True
    ]  # fmt: skip


def test_binary_rfc3516() -> None:
    binary, peek, size = parse(b"a FETCH 1 (BINARY[1.2] BINARY.PEEK[3]<0.100> BINARY.SIZE[1])").attributes
    assert binary == FetchAttribute("BINARY", Section((1, 2))) and binary.response_name == "BINARY[1.2]"
    assert peek.peek and peek.partial == (0, 100) and peek.response_name == "BINARY[3]<0>"
    assert size == FetchAttribute("BINARY.SIZE", Section((1,))) and size.response_name == "BINARY.SIZE[1]"
    assert parse_error(b"a FETCH 1 BINARY[HEADER]") == "BINARY sections are part numbers only"


def test_condstore_qresync_modifiers_rfc7162() -> None:
    command = parse(b"s100 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12345)")
    assert command.uid and command.changed_since == 12345 and not command.vanished
    command = parse(b"s100 UID FETCH 300:500 (FLAGS) (CHANGEDSINCE 12345 VANISHED)")
    assert command.vanished
    assert parse(b"a FETCH 1 (UID MODSEQ)").attributes[1] == FetchAttribute("MODSEQ")
    assert parse_error(b"s FETCH 1:* FLAGS (CHANGEDSINCE 1 VANISHED)") == "VANISHED needs UID FETCH with CHANGEDSINCE"
    assert parse_error(b"s FETCH 1 FLAGS (BOGUS)") == "Unknown FETCH modifier BOGUS"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"a FETCH 1 BOGUS", "Unknown FETCH item BOGUS"),
        (b"a FETCH 1 ()", "Empty list"),
        (b"a FETCH 1 BODY[0]", "Part number out of range"),
        (b"a FETCH 1 BODY[MIME]", "MIME needs a part number"),
        (b"a FETCH 1 BODY[1.]", "Section ends with '.'"),
        (b"a FETCH 1 BODY[1.FOO]", "Expected HEADER, HEADER.FIELDS, HEADER.FIELDS.NOT, TEXT or MIME"),
        (b"a FETCH 1 BODY[HEADER.FIELDS ()]", "Empty list"),
        (b"a FETCH 1 BODY[TEXT", "Expected ']' to close the section"),
        (b"a FETCH 1 BODY[]<5>", "Expected '.' and a length in the partial range"),
        (b"a FETCH 1 ALLX", "Unknown FETCH item ALLX"),
        (b"a FETCH 1 BINARY.SIZE[1]<0.1>", "BINARY.SIZE takes no partial range"),
    ],
)
def test_fetch_errors(line: bytes, message: str) -> None:
    assert parse_error(line) == message
