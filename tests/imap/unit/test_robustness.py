"""Any bytes, cut anywhere: the core never raises, memory stays bounded, and splits do not matter."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.imap.protocol import Limits
from services.imap.protocol.errors import ParseError
from services.imap.protocol.parser import parse_command
from services.imap.protocol.reader import CommandReader, CommandUnit
from tests.imap.fakes import Exchange, logged_in, make_config

SMALL = make_config(max_line=8192, max_literal=2048, max_command=16384, append_limit=4096, max_errors=1000)
BOUND = 8192 + 16384 + 4096  # line + held literals + one read

TOKENS = [
    b"a1 ", b"UID ", b"FETCH ", b"SEARCH ", b"APPEND ", b"LOGIN ", b"SELECT ", b"STORE ", b"LIST ", b"IDLE",
    b"DONE", b"AUTHENTICATE PLAIN", b"STARTTLS", b"ENABLE UTF8=ACCEPT", b"{5}", b"{3+}", b"~{2+}", b"{99999}",
    b"{4097+}", b"(", b")", b"[", b"]", b"<0.1>", b'"', b"\\", b"*", b"%", b"1:*", b"$", b"NIL", b" ", b"\r\n",
    b"\n", b"\r", b"\0", b"\xff", b"&AOQ-", b"&", b"BODY[1.HEADER.FIELDS (a)]", b"OR ", b"NOT ", b"INBOX",
]  # fmt: skip

streams = st.lists(st.one_of(st.sampled_from(TOKENS), st.binary(max_size=40)), max_size=60).map(b"".join)


def feed_in_pieces(exchange: Exchange, data: bytes, cuts: list[int]) -> bytes:
    out = bytearray()
    start = 0
    for cut in sorted(set(c % (len(data) + 1) for c in cuts)) + [len(data)]:
        out += exchange.send(data[start:cut])
        start = cut
        assert exchange.session.buffered_bytes <= BOUND
    return bytes(out)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams, st.lists(st.integers(min_value=0), max_size=10))
def test_any_input_split_anywhere_never_raises(data: bytes, cuts: list[int]) -> None:
    exchange = logged_in(SMALL)
    feed_in_pieces(exchange, data, cuts)
    exchange.close()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300), st.lists(st.integers(min_value=0), max_size=10))
def test_random_bytes_before_login_never_raise(data: bytes, cuts: list[int]) -> None:
    exchange = Exchange(SMALL)
    feed_in_pieces(exchange, data, cuts)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams, st.lists(st.integers(min_value=0), max_size=10))
def test_splits_do_not_change_the_conversation(data: bytes, cuts: list[int]) -> None:
    whole = logged_in(SMALL)
    out_whole = whole.send(data)
    pieces = logged_in(SMALL)
    out_pieces = feed_in_pieces(pieces, data, cuts)
    assert out_pieces == out_whole
    assert pieces.commands() == whole.commands()
    assert {i: bytes(d) for i, d in pieces.appended.items()} == {i: bytes(d) for i, d in whole.appended.items()}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(TOKENS), max_size=40).map(b"".join), st.booleans())
def test_parser_raises_only_parse_errors(line: bytes, utf8: bool) -> None:
    reader = CommandReader(Limits())
    buffer = bytearray(b"t " + line + b"\r\n")
    while (event := reader.next(buffer)) is not None:
        if isinstance(event, CommandUnit):
            try:
                parse_command(event, utf8=utf8)
            except ParseError:
                pass


def test_huge_announced_literal_never_sent_keeps_memory_small() -> None:
    exchange = logged_in(SMALL)
    exchange.send(b"a APPEND INBOX {4000}\r\n")
    # The client sends less than announced and keeps talking: it is all literal data.
    exchange.send(b"x" * 100)
    assert exchange.session.buffered_bytes < 200
