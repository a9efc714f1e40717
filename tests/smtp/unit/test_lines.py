"""The command line reader: <CRLF> only, bare newlines reported, long lines dropped in bounded memory."""

import pytest

from services.smtp.protocol.lines import LineProblem, LineReader


def read_all(data: bytes, *, limit: int = 512) -> list[bytes | LineProblem]:
    reader = LineReader()
    buffer = bytearray(data)
    out: list[bytes | LineProblem] = []
    while (line := reader.next_line(buffer, limit=limit)) is not None:
        out.append(line)
        if line is LineProblem.BARE_NEWLINE:
            break
    return out


def test_lines_end_at_crlf() -> None:
    assert read_all(b"EHLO x\r\nMAIL FROM:<>\r\n\r\nRSET") == [b"EHLO x", b"MAIL FROM:<>", b""]


@pytest.mark.parametrize("data", [b"RSET\nMAIL\r\n", b"RSET\rMAIL\r\n", b"\n", b"RSET\n", b"A\r\rB\r\n", b"A\n\r\n"])
def test_bare_cr_or_lf_is_reported_not_taken_as_a_line_end(data: bytes) -> None:
    assert read_all(data) == [LineProblem.BARE_NEWLINE]


def test_lines_before_a_bare_newline_are_read_first() -> None:
    assert read_all(b"NOOP\r\nRSET\nMAIL\r\n") == [b"NOOP", LineProblem.BARE_NEWLINE]


def test_trailing_cr_waits_for_its_lf() -> None:
    reader = LineReader()
    buffer = bytearray(b"NOOP\r")
    assert reader.next_line(buffer, limit=512) is None
    buffer += b"\n"
    assert reader.next_line(buffer, limit=512) == b"NOOP"
    assert not buffer


def test_crlf_split_over_every_position() -> None:
    data = b"EHLO client.example.test\r\nNOOP\r\n"
    for cut in range(len(data) + 1):
        reader = LineReader()
        buffer = bytearray()
        lines = []
        for piece in (data[:cut], data[cut:]):
            buffer += piece
            while (line := reader.next_line(buffer, limit=512)) is not None:
                lines.append(line)
        assert lines == [b"EHLO client.example.test", b"NOOP"], cut


def test_limit_counts_the_crlf() -> None:
    # RFC 5321 section 4.5.3.1.4: 512 octets including <CRLF>.
    assert read_all(b"x" * 510 + b"\r\n") == [b"x" * 510]
    assert read_all(b"x" * 511 + b"\r\nNOOP\r\n") == [LineProblem.TOO_LONG, b"NOOP"]


def test_megabyte_line_is_discarded_with_bounded_buffer() -> None:
    reader = LineReader()
    buffer = bytearray()
    piece = b"A" * 65536
    peak = 0
    for _ in range(16):  # 1 MiB without <CRLF>
        buffer += piece
        assert reader.next_line(buffer, limit=512) is None
        peak = max(peak, len(buffer))
    assert peak <= 512 + len(piece)
    assert len(buffer) == 0
    buffer += b"tail\r"
    assert reader.next_line(buffer, limit=512) is None
    assert buffer == b"\r"  # kept: may be the first half of <CRLF>
    buffer += b"\nNOOP\r\n"
    assert reader.next_line(buffer, limit=512) is LineProblem.TOO_LONG  # one reply for the whole line
    assert reader.next_line(buffer, limit=512) == b"NOOP"


def test_bare_newline_inside_a_discarded_line_is_still_reported() -> None:
    reader = LineReader()
    buffer = bytearray(b"A" * 600)
    assert reader.next_line(buffer, limit=512) is None
    buffer += b"B\nC"
    assert reader.next_line(buffer, limit=512) is LineProblem.BARE_NEWLINE
