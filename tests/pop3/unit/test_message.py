"""RETR/TOP bodies: CRLF line ends, byte-stuffing, TOP's line count, bounded pieces."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from services.pop3.protocol import MessageEncoder, encode_message


def unstuff(wire: bytes) -> bytes:
    """What a client makes of a multi-line body: strip the terminator and one leading dot per line."""
    assert wire.endswith(b".\r\n")
    lines = wire[:-3].split(b"\r\n")[:-1] if wire != b".\r\n" else []
    return b"".join((line[1:] if line.startswith(b".") else line) + b"\r\n" for line in lines)


def normalised(data: bytes) -> bytes:
    text = re.sub(rb"\r\n|\r|\n", b"\r\n", data)
    return text if not text or text.endswith(b"\r\n") else text + b"\r\n"


def test_crlf_message_is_sent_as_stored() -> None:
    message = b"Subject: x\r\n\r\nbody\r\n"
    assert encode_message(message) == message + b".\r\n"


def test_leading_dots_are_doubled() -> None:
    assert encode_message(b".a\r\n..b\r\n.\r\nc.d\r\n") == b"..a\r\n...b\r\n..\r\nc.d\r\n.\r\n"


def test_bare_line_ends_become_crlf_and_a_last_line_gets_one() -> None:
    assert encode_message(b"a\nb\rc\r\nd") == b"a\r\nb\r\nc\r\nd\r\n.\r\n"


def test_empty_message_is_only_the_terminator() -> None:
    assert encode_message(b"") == b".\r\n"


def test_crlf_split_between_pieces_is_one_line_end() -> None:
    encoder = MessageEncoder()
    out = encoder.feed(b"a\r") + encoder.feed(b"\n.b\r") + encoder.feed(b"\r\n") + encoder.finish()
    assert out == b"a\r\n..b\r\n\r\n.\r\n"


def test_dot_at_the_start_of_a_piece_mid_line_is_not_stuffed() -> None:
    encoder = MessageEncoder()
    assert encoder.feed(b"a") + encoder.feed(b".b\r\n") + encoder.finish() == b"a.b\r\n.\r\n"


def test_top_sends_the_header_the_empty_line_and_n_body_lines() -> None:
    message = b"H: 1\r\nH: 2\r\n\r\nl1\r\nl2\r\nl3\r\n"
    assert encode_message(message, body_lines=0) == b"H: 1\r\nH: 2\r\n\r\n.\r\n"
    assert encode_message(message, body_lines=2) == b"H: 1\r\nH: 2\r\n\r\nl1\r\nl2\r\n.\r\n"
    assert encode_message(message, body_lines=10) == message + b".\r\n"


def test_top_says_when_it_is_done_so_the_reader_can_stop() -> None:
    encoder = MessageEncoder(body_lines=1)
    assert encoder.feed(b"H: 1\r\n\r\nfirst\r\nsecond") == b"H: 1\r\n\r\nfirst\r\n"
    assert encoder.done
    assert encoder.feed(b"more\r\n") == b""
    assert encoder.finish() == b".\r\n"


def test_top_of_a_message_without_a_body_sends_it_all() -> None:
    assert encode_message(b"H: 1\r\nH: 2", body_lines=5) == b"H: 1\r\nH: 2\r\n.\r\n"


def test_a_huge_single_line_is_streamed_piece_by_piece() -> None:
    encoder = MessageEncoder()
    piece = b"x" * 65536
    sizes = {len(encoder.feed(piece)) for _ in range(64)}
    assert sizes == {65536}
    assert encoder.finish() == b"\r\n.\r\n"


@given(st.binary(max_size=300), st.lists(st.integers(min_value=1, max_value=40), max_size=20))
def test_any_split_gives_the_same_bytes_and_the_client_reads_the_message(data: bytes, cuts: list[int]) -> None:
    whole = encode_message(data)
    encoder = MessageEncoder()
    out, position = bytearray(), 0
    for cut in cuts:
        out += encoder.feed(data[position : position + cut])
        position += cut
    out += encoder.feed(data[position:]) + encoder.finish()
    assert bytes(out) == whole
    assert unstuff(whole) == normalised(data)
    assert b"\r\n.\r\n" not in whole[:-3] or whole.startswith(b".\r\n")
