"""DATA framing: dot-unstuffing, only <CRLF>.<CRLF> ends, every smuggling variant, any read split."""

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.smtp.protocol.data import DataProgress, DotReader


def read(data: bytes, *, normalize: bool = False, max_line: int | None = None) -> tuple[bytes, DataProgress, DotReader]:
    reader = DotReader(normalize_bare_newlines=normalize, max_line_length=max_line)
    progress = reader.feed(data)
    return progress.content, progress, reader


def read_in_pieces(
    pieces: list[bytes], *, normalize: bool, max_line: int | None = 1000
) -> tuple[bytes, int, bool, bool, bool]:
    """Feed ``pieces`` as the session does: content, octets consumed, finished, bare, too long."""
    reader = DotReader(normalize_bare_newlines=normalize, max_line_length=max_line)
    content = bytearray()
    consumed = 0
    for piece in pieces:
        while True:
            progress = reader.feed(piece)
            content += progress.content
            consumed += progress.consumed
            if progress.finished or progress.bare_newline:
                return bytes(content), consumed, progress.finished, progress.bare_newline, reader.line_too_long
            piece = piece[progress.consumed :]
            if not piece:
                break
            assert reader.line_too_long  # the only reason to stop early
    return bytes(content), consumed, False, False, reader.line_too_long


def stuff(content: bytes) -> bytes:
    """What a client sends for ``content`` (RFC 5321 section 4.5.2), terminator included."""
    lines = content.split(b"\r\n")
    stuffed = b"\r\n".join(b"." + line if line.startswith(b".") else line for line in lines)
    return stuffed + (b"" if content.endswith(b"\r\n") or not content else b"\r\n") + b".\r\n"


def test_message_ends_at_crlf_dot_crlf() -> None:
    content, progress, _ = read(b"Subject: x\r\n\r\nbody\r\n.\r\nQUIT\r\n")
    assert content == b"Subject: x\r\n\r\nbody\r\n"
    assert progress.finished and progress.consumed == len(b"Subject: x\r\n\r\nbody\r\n.\r\n")


def test_empty_message() -> None:
    content, progress, _ = read(b".\r\n")
    assert content == b"" and progress.finished and progress.consumed == 3


@pytest.mark.parametrize(
    ("sent", "content"),
    [
        (b"..\r\n.\r\n", b".\r\n"),
        (b"...\r\n.\r\n", b"..\r\n"),
        (b".leading\r\n.\r\n", b"leading\r\n"),
        (b"..leading\r\n.\r\n", b".leading\r\n"),
        (b"a.\r\n.b\r\n.\r\n", b"a.\r\nb\r\n"),
        (b". \r\n.\r\n", b" \r\n"),
        (b"x\r\n..\r\n..\r\n.\r\n", b"x\r\n.\r\n.\r\n"),
    ],
)
def test_dot_unstuffing(sent: bytes, content: bytes) -> None:
    got, progress, _ = read(sent)
    assert progress.finished and got == content


# The end-of-data look-alikes from the 2023 "SMTP smuggling" research: every
# combination of <CR>, <LF> and <CRLF> around the dot except the real one, and
# a few more exotic forms.
_BREAKS = [b"\r", b"\n", b"\r\n"]
SMUGGLING = sorted(
    {before + b"." + after for before, after in itertools.product(_BREAKS, repeat=2)} - {b"\r\n.\r\n"}
    | {b"\r\n.\r\r\n", b"\r\n.\n\r\n", b"\n..\n", b"\r\n\x00.\r\n", b"\r\n.\x00\r\n", b"\n.\r\r\n"}
)


@pytest.mark.parametrize("sequence", SMUGGLING, ids=repr)
def test_smuggling_sequence_never_ends_data_when_normalising(sequence: bytes) -> None:
    data = b"Subject: a\r\n\r\nfirst" + sequence + b"MAIL FROM:<evil@example.test>\r\nmore\r\n.\r\n"
    content, progress, _ = read(data, normalize=True)
    assert progress.finished and progress.consumed == len(data)  # only at the real terminator
    assert b"MAIL FROM:<evil@example.test>" in content
    assert not any(b in content.replace(b"\r\n", b"") for b in (b"\r", b"\n"))  # every break is a CRLF


@pytest.mark.parametrize("sequence", SMUGGLING, ids=repr)
def test_smuggling_sequence_is_rejected_at_the_bare_newline(sequence: bytes) -> None:
    data = b"Subject: a\r\n\r\nfirst" + sequence + b"MAIL FROM:<evil@example.test>\r\n.\r\n"
    content, progress, _ = read(data)
    if b"\x00" in sequence:  # proper <CRLF>s around a NUL: plain content, ends at the real terminator
        assert progress.finished and progress.consumed == len(data) and b"MAIL FROM" in content
    else:
        assert progress.bare_newline and not progress.finished
        assert b"MAIL FROM" not in content


def test_bare_cr_right_before_a_real_terminator() -> None:
    data = b"first\r\r\n.\r\nMAIL FROM:<x@example.test>\r\n"
    assert read(data)[1].bare_newline
    content, progress, _ = read(data, normalize=True)
    assert progress.finished and content == b"first\r\n\r\n"


@pytest.mark.parametrize("sequence", SMUGGLING, ids=repr)
def test_smuggling_sequence_split_at_every_position(sequence: bytes) -> None:
    data = b"x" + sequence + b"y\r\n.\r\n"
    whole = read_in_pieces([data], normalize=True)
    for cut in range(len(data) + 1):
        assert read_in_pieces([data[:cut], data[cut:]], normalize=True) == whole
        assert read_in_pieces([data[:cut], data[cut:]], normalize=False) == read_in_pieces([data], normalize=False)


def test_bare_newline_policy_reject_stops_at_the_offending_octet() -> None:
    content, progress, _ = read(b"line one\r\nline\ntwo\r\n.\r\n")
    assert progress.bare_newline and content == b"line one\r\nline" and progress.consumed == 14


def test_normalised_break_does_not_start_a_protocol_line() -> None:
    # After a normalised bare LF, "." is content: neither terminator nor stuffing.
    content, progress, _ = read(b"a\n..\r\n.\r\n", normalize=True)
    assert progress.finished and content == b"a\r\n..\r\n"


def test_byte_by_byte_equals_whole() -> None:
    data = b"Subject: x\r\n\r\n..dot\r\n.\r\r\nbare\nlf\r\n.\r\n"
    assert read_in_pieces([bytes([b]) for b in data], normalize=True) == read_in_pieces([data], normalize=True)


@given(st.binary(max_size=300), st.lists(st.integers(min_value=0, max_value=300), max_size=8))
def test_random_splits_give_identical_results(data: bytes, cuts: list[int]) -> None:
    data = data.replace(b"Z", b"\r\n.\r\n")  # give the terminator a real chance
    points = sorted({min(cut, len(data)) for cut in cuts})
    pieces = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
    for normalize in (True, False):
        for max_line in (None, 12, 1000):
            expected = read_in_pieces([data], normalize=normalize, max_line=max_line)
            assert read_in_pieces(pieces, normalize=normalize, max_line=max_line) == expected


_LINE = st.binary(max_size=40).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))


@given(st.lists(_LINE, max_size=20), st.lists(st.integers(min_value=0, max_value=900), max_size=6))
def test_stuffing_round_trip(lines: list[bytes], cuts: list[int]) -> None:
    content = b"".join(line + b"\r\n" for line in lines)
    sent = stuff(content) + b"NOOP\r\n"
    points = sorted({min(cut, len(sent)) for cut in cuts})
    pieces = [sent[a:b] for a, b in zip([0, *points], [*points, len(sent)], strict=True)]
    got, consumed, finished, bare, _ = read_in_pieces(pieces, normalize=False, max_line=None)
    assert (got, consumed, finished, bare) == (content, len(sent) - len(b"NOOP\r\n"), True, False)


def test_text_line_limit_counts_crlf_but_not_the_stuffing_dot() -> None:
    # RFC 5321 section 4.5.3.1.6: 1000 octets including <CRLF>.
    assert not read(b"a" * 998 + b"\r\n.\r\n", max_line=1000)[2].line_too_long
    assert not read(b".." + b"a" * 997 + b"\r\n.\r\n", max_line=1000)[2].line_too_long
    assert read(b"a" * 999 + b"\r\n.\r\n", max_line=1000)[2].line_too_long
    assert not read(b"a" * 5000 + b"\r\n.\r\n", max_line=None)[2].line_too_long


def test_long_line_is_streamed_not_buffered() -> None:
    reader = DotReader(normalize_bare_newlines=False, max_line_length=1000)
    first = reader.feed(b"x" * 10000)
    # feed() stops at the first octet over the limit, so the caller can act there...
    assert reader.line_too_long and first.consumed == 998 and first.content == b"x" * 998
    assert reader.feed(b"x" * (10000 - 998)).consumed == 10000 - 998
    # ...and then keeps streaming without holding anything back.
    for _ in range(100):
        progress = reader.feed(b"x" * 10000)
        assert progress.consumed == 10000 and progress.content == b"x" * 10000
    assert reader.feed(b"\r\n.\r\n").finished
