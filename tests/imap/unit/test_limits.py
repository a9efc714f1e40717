"""Bad input: unbounded lines, deep nesting, invalid names, error counts; memory stays bounded."""

import pytest

from services.imap.protocol import Limits, ProtocolError, SessionClosed
from tests.imap.fakes import Exchange, logged_in, make_config, selected


def test_overlong_line_is_dropped_as_it_arrives_and_refused_once() -> None:
    exchange = Exchange()
    peak = 0
    exchange.send(b"a1 NOOP ")
    for _ in range(100):
        assert exchange.send(b"x" * 10000) == b""
        peak = max(peak, exchange.session.buffered_bytes)
    # Bounded by the line limit (plus one read) while the line arrives, then dropped.
    assert peak <= Limits().max_line + 10000
    assert exchange.send(b"\r\n") == b"a1 BAD [TOOBIG] Command line too long\r\n"
    assert exchange.send(b"a2 NOOP\r\n") == b"a2 OK NOOP completed\r\n"


def test_overlong_line_without_a_readable_tag_gets_an_untagged_bad() -> None:
    exchange = Exchange()
    assert exchange.send(b"+" * 70000 + b"\r\n") == b"* BAD [TOOBIG] Command line too long\r\n"


def test_overlong_line_announcing_a_non_synchronising_literal_closes() -> None:
    exchange = Exchange()
    out = exchange.send(b"a1 LOGIN " + b"x" * 70000 + b" {5+}\r\nhello\r\n")
    assert out == b"a1 BAD [TOOBIG] Command line too long\r\n* BYE Cannot resynchronise after a refused literal\r\n"


def test_overlong_line_announcing_a_synchronising_literal_gets_no_continuation() -> None:
    exchange = Exchange()
    out = exchange.send(b"a1 LOGIN " + b"x" * 70000 + b" {5}\r\n")
    assert out == b"a1 BAD [TOOBIG] Command line too long\r\n"
    assert exchange.send(b"a2 NOOP\r\n") == b"a2 OK NOOP completed\r\n"


def test_line_limit_counts_all_lines_of_a_command_but_not_literals() -> None:
    exchange = Exchange(make_config(max_line=8192, max_literal=60000, max_command=200000))
    out = exchange.send(b"a1 LOGIN {50000+}\r\n" + b"u" * 50000 + b" " + b"p" * 9000 + b"\r\n")
    assert out == b"a1 BAD [TOOBIG] Command line too long\r\n"


def test_thousand_deep_parentheses_are_refused_without_recursion() -> None:
    exchange = selected()
    out = exchange.send(b"a1 SEARCH " + b"(" * 1000 + b"ALL" + b")" * 1000 + b"\r\n")
    assert out == b"a1 BAD Too deeply nested (more than 100 levels)\r\n"
    # FETCH item lists do not nest: the second "(" is simply not an item.
    out = exchange.send(b"a2 FETCH 1 " + b"(" * 1000 + b"\r\n")
    assert out == b"a2 BAD Expected a FETCH item\r\n"
    out = exchange.send(b"a3 SEARCH " + b"NOT " * 1000 + b"ALL\r\n")
    assert out == b"a3 BAD Too deeply nested (more than 100 levels)\r\n"
    out = exchange.send(b"a4 SEARCH " + b"OR ALL " * 1000 + b"ALL\r\n")
    assert out == b"a4 BAD Too deeply nested (more than 100 levels)\r\n"
    out = exchange.send(b"a5 SEARCH " + b"(" * 99 + b"ALL" + b")" * 99 + b"\r\n")
    assert out == b"a5 OK SEARCH completed\r\n"


@pytest.mark.parametrize(
    ("name", "reply"),
    [
        (b'"Entw\xc3\xbcrfe"', b"BAD Mailbox name is not modified UTF-7 (8-bit characters need ENABLE UTF8=ACCEPT)"),
        (b"&AOQ-&APY-", b"BAD Mailbox name is not valid modified UTF-7: two adjacent encoded runs must be one"),
        (b"Entw&APw-rfe&", b"BAD Mailbox name is not valid modified UTF-7: unterminated '&' shift"),
        (b'"\xff\xfe"', b"BAD Mailbox name is not modified UTF-7 (8-bit characters need ENABLE UTF8=ACCEPT)"),
    ],
)
def test_invalid_modified_utf7_names(name: bytes, reply: bytes) -> None:
    exchange = logged_in()
    assert exchange.send(b"a1 CREATE " + name + b"\r\n") == b"a1 " + reply + b"\r\n"


def test_utf8_names_after_enable_and_invalid_utf8() -> None:
    exchange = logged_in()
    exchange.send(b"e ENABLE UTF8=ACCEPT\r\n")
    assert exchange.send(b'a1 CREATE "Entw\xc3\xbcrfe"\r\n') == b"a1 OK CREATE completed\r\n"
    assert exchange.commands()[-1].mailbox == "Entwürfe"
    # In UTF-8 mode "&" is an ordinary character.
    exchange.send(b"a2 CREATE Entw&APw-rfe\r\n")
    assert exchange.commands()[-1].mailbox == "Entw&APw-rfe"
    assert exchange.send(b'a3 CREATE "\xff\xfe"\r\n') == b"a3 BAD Invalid UTF-8 in string\r\n"
    assert exchange.send(b'a4 CREATE "a\xc0\xafb"\r\n') == b"a4 BAD Invalid UTF-8 in string\r\n"
    assert exchange.send(b"a5 CREATE {3+}\r\na\x01b\r\n") == b"a5 BAD Control characters in mailbox name\r\n"


def test_nul_and_control_characters() -> None:
    exchange = Exchange()
    assert exchange.send(b'a1 LOGIN "a\0b" c\r\n') == b"a1 BAD NUL or CR in quoted string\r\n"
    assert exchange.send(b"a2 NOOP\0\r\n") == b"a2 BAD Unexpected characters at end of command\r\n"


def test_too_many_errors_end_the_session() -> None:
    exchange = Exchange(make_config(max_errors=3))
    out = exchange.send(b"a1 FROB\r\na2 FROB\r\na3 FROB\r\na4 NOOP\r\n")
    assert out == (
        b"a1 BAD Unknown command FROB\r\na2 BAD Unknown command FROB\r\na3 BAD Unknown command FROB\r\n"
        b"* BYE Too many invalid commands\r\n"
    )
    assert isinstance(exchange.events[-1], SessionClosed)


def test_refusals_that_are_not_mistakes_do_not_count() -> None:
    exchange = Exchange(make_config(max_errors=2, tls_active=False))
    out = exchange.send(b"a1 LOGIN a b\r\n" * 5)
    assert out.count(b"NO [PRIVACYREQUIRED]") == 5
    assert exchange.session.error_count == 0


def test_limits_below_the_floors_are_refused() -> None:
    with pytest.raises(ValueError):
        Limits(max_line=100)
    with pytest.raises(ValueError):
        Limits(max_depth=2)


def test_bad_tags() -> None:
    exchange = Exchange()
    assert exchange.send(b"\r\n") == b"* BAD Missing or invalid tag\r\n"
    assert exchange.send(b"+tag NOOP\r\n") == b"* BAD Missing or invalid tag\r\n"
    assert exchange.send(b"a{b NOOP\r\n") == b"* BAD Missing or invalid tag\r\n"
    assert [type(e) for e in exchange.events[-3:]] == [ProtocolError] * 3


def test_lines_may_end_with_lf_alone() -> None:
    exchange = Exchange()
    assert exchange.send(b"a1 NOOP\n") == b"a1 OK NOOP completed\r\n"
