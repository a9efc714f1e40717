"""Command framing: CRLF or LF, the 255-octet limit of RFC 2449, bounded buffering."""

from __future__ import annotations

from services.pop3.protocol.lines import TOO_LONG, LineReader


def test_crlf_and_bare_lf_end_a_line() -> None:
    reader = LineReader()
    reader.feed(b"STAT\r\nNOOP\nQU")
    assert reader.next_line(255) == b"STAT"
    assert reader.next_line(255) == b"NOOP"
    assert reader.next_line(255) is None
    reader.feed(b"IT\r\n")
    assert reader.next_line(255) == b"QUIT"


def test_a_line_of_exactly_the_limit_is_accepted_one_more_is_not() -> None:
    reader = LineReader()
    reader.feed(b"x" * 253 + b"\r\n" + b"y" * 254 + b"\r\nNOOP\r\n")
    assert reader.next_line(255) == b"x" * 253
    assert reader.next_line(255) is TOO_LONG
    assert reader.next_line(255) == b"NOOP"


def test_an_endless_line_never_grows_the_buffer() -> None:
    reader = LineReader()
    for _ in range(1000):
        reader.feed(b"z" * 4096)
        assert reader.next_line(255) is None
        assert reader.buffered_bytes <= 4096
    reader.feed(b"\r\nSTAT\r\n")
    assert reader.next_line(255) is TOO_LONG
    assert reader.next_line(255) == b"STAT"


def test_clear_drops_what_is_buffered() -> None:
    reader = LineReader()
    reader.feed(b"USER a\r\nPASS b\r\n")
    assert reader.clear() == 16
    assert reader.next_line(255) is None
