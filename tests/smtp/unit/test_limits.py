"""Limits: configuration floors, line length with bounded memory, error count, NUL and UTF-8."""

import dataclasses

import pytest

from services.smtp.protocol import (
    Limits,
    MailFromReceived,
    ProtocolError,
    SessionConfig,
    SessionTerminated,
    State,
    replies,
)
from tests.smtp.fakes import make_config, run


def test_defaults_follow_the_rfc_floors() -> None:
    limits = Limits()
    assert limits.max_command_line >= 512 and limits.max_text_line == 1000 and limits.max_recipients == 100
    assert limits.max_auth_line == 12288


@pytest.mark.parametrize(
    "override",
    [
        {"max_command_line": 511},
        {"max_text_line": 999},
        {"max_recipients": 0},
        {"max_errors": 0},
        {"max_message_size": 0},
        {"max_auth_line": 100},
        {"max_text_line": 0},
    ],
)
def test_limits_below_the_floor_are_refused(override: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        Limits(**override)


def test_limits_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Limits().max_errors = 3  # type: ignore[misc]


@pytest.mark.parametrize("hostname", ["", "mx example", "mx\r\n", "mx\0"])
def test_config_refuses_bad_hostnames(hostname: str) -> None:
    with pytest.raises(ValueError):
        SessionConfig(hostname=hostname)


def test_config_refuses_bad_mechanism_names() -> None:
    with pytest.raises(ValueError):
        SessionConfig(hostname="mx", auth_mechanisms=("plain",))


def test_megabyte_command_line_is_never_buffered_whole() -> None:
    transport = run(make_config(max_command_line=512), b"EHLO c\r\n")
    transport.take_output()
    peak = 0
    for _ in range(16):
        transport.feed(b"MAIL FROM:<" + b"a" * 65525)  # 1 MiB in all, no <CRLF>
        peak = max(peak, transport.session.buffered_bytes)
    assert peak <= 512
    assert transport.take_output() == b""
    transport.feed(b">\r\nNOOP\r\n")
    assert transport.take_output() == b"500 5.5.2 Line too long\r\n250 2.0.0 Ok\r\n"
    assert transport.events[-1] == ProtocolError(replies.line_too_long(), None)


def test_command_line_limit_counts_crlf() -> None:
    config = make_config(max_command_line=512)
    ok = run(config, b"EHLO c\r\nNOOP " + b"x" * (512 - 7) + b"\r\n")
    assert ok.take_output().endswith(b"250 2.0.0 Ok\r\n")
    too_long = run(config, b"EHLO c\r\nNOOP " + b"x" * (512 - 6) + b"\r\n")
    assert too_long.take_output().endswith(b"500 5.5.2 Line too long\r\n")


def test_error_limit_closes_with_421() -> None:
    transport = run(make_config(max_errors=3), b"FOO\r\nBAR\r\nBAZ\r\nNOOP\r\n")
    errors = [event for event in transport.events if isinstance(event, ProtocolError)]
    assert len(errors) == 3
    assert transport.events[-1] == SessionTerminated(replies.too_many_errors("mx.example.test"))
    assert transport.take_output().endswith(
        b"500 5.5.2 Command unrecognized\r\n421 4.7.0 mx.example.test Too many errors, closing connection\r\n"
    )
    assert transport.session.state is State.CLOSED and transport.session.error_count == 3


def test_refusals_that_are_not_client_errors_do_not_count() -> None:
    transport = run(
        make_config(max_errors=2, max_recipients=1, max_message_size=10),
        b"EHLO c\r\nMAIL FROM:<a@example.test> SIZE=11\r\nMAIL FROM:<a@example.test>\r\n"
        b"RCPT TO:<b@example.test>\r\nRCPT TO:<c@example.test>\r\nRCPT TO:<d@example.test>\r\nRSET\r\n",
    )
    assert transport.session.error_count == 0 and not transport.closed


def test_nul_in_a_command() -> None:
    transport = run(make_config(), b"EHLO c\r\nMAIL FROM:<a\0@example.test>\r\n")
    assert transport.events[-1] == ProtocolError(replies.nul_in_command(), None)


def test_invalid_utf8_in_a_command() -> None:
    transport = run(make_config(), b"EHLO c\r\nMAIL FROM:<\xc3\x28@example.test> SMTPUTF8\r\n")
    assert transport.events[-1] == ProtocolError(replies.syntax_error("Invalid UTF-8 in command"), None)
    assert not any(isinstance(event, MailFromReceived) for event in transport.events)
