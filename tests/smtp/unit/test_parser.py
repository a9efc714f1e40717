"""Command lines: verbs, argument grammar, NUL, UTF-8 and mode-specific verbs."""

import pytest

from services.smtp.protocol import Address, RemoteProtocolError
from services.smtp.protocol.parser import (
    Command,
    Verb,
    parse_auth,
    parse_bdat,
    parse_command,
    parse_helo,
    parse_mail,
    parse_rcpt,
    require_no_argument,
)


def refused(call: object) -> tuple[int, str | None, str]:
    assert callable(call)
    with pytest.raises(RemoteProtocolError) as caught:
        call()
    reply = caught.value.reply
    return reply.code, reply.enhanced, reply.text


@pytest.mark.parametrize(
    ("line", "verb", "argument"),
    [
        (b"EHLO client.example.test", Verb.EHLO, "client.example.test"),
        (b"ehlo client.example.test", Verb.EHLO, "client.example.test"),
        (b"MaIl FROM:<a@b.test>", Verb.MAIL, "FROM:<a@b.test>"),
        (b"QUIT", Verb.QUIT, ""),
        (b"RSET   ", Verb.RSET, ""),
        (b"NOOP some text", Verb.NOOP, "some text"),
        (b"STARTTLS", Verb.STARTTLS, ""),
        ("VRFY jörg".encode(), Verb.VRFY, "jörg"),
    ],
)
def test_verbs_are_case_insensitive(line: bytes, verb: Verb, argument: str) -> None:
    assert parse_command(line, lmtp=False) == Command(verb, argument)


@pytest.mark.parametrize("line", [b"", b"FOO", b"MAIL1 FROM:<>", b"  MAIL FROM:<>", b"\xc3\xa9HLO x", b"DATA\tx"])
def test_unrecognized_commands(line: bytes) -> None:
    assert refused(lambda: parse_command(line, lmtp=False))[:2] == (500, "5.5.2")


def test_nul_is_refused() -> None:
    assert refused(lambda: parse_command(b"HELO a\0b", lmtp=False)) == (
        500,
        "5.5.2",
        "NUL character not allowed in command",
    )


def test_invalid_utf8_is_refused() -> None:
    assert refused(lambda: parse_command(b"MAIL FROM:<\xff@example.test>", lmtp=False))[:2] == (501, "5.5.2")


def test_lmtp_and_smtp_verbs() -> None:
    assert parse_command(b"LHLO x", lmtp=True).verb is Verb.LHLO
    for line, lmtp in [(b"LHLO x", False), (b"HELO x", True), (b"EHLO x", True)]:
        assert refused(lambda line=line, lmtp=lmtp: parse_command(line, lmtp=lmtp))[0] == 500


def test_helo_argument() -> None:
    assert parse_helo(Command(Verb.EHLO, "[192.0.2.1]")) == "[192.0.2.1]"
    for argument in ["", "two words", "jörg.example"]:
        assert refused(lambda argument=argument: parse_helo(Command(Verb.EHLO, argument)))[:2] == (501, "5.5.4")


def test_no_argument_commands() -> None:
    require_no_argument(Command(Verb.DATA, ""))
    assert refused(lambda: require_no_argument(Command(Verb.DATA, "now")))[:2] == (501, "5.5.4")


def test_mail() -> None:
    path, params = parse_mail(Command(Verb.MAIL, "FROM:<alice@example.test> SIZE=10"), auth_offered=False)
    assert path == Address("alice", "example.test") and params.size == 10
    assert parse_mail(Command(Verb.MAIL, "from:<>"), auth_offered=False)[0] is None
    assert parse_mail(Command(Verb.MAIL, "FROM: <a@b.test>"), auth_offered=False)[0] == Address("a", "b.test")


@pytest.mark.parametrize(
    ("argument", "expected"),
    [
        ("TO:<a@b.test>", (501, "5.5.4")),
        ("FROM <a@b.test>", (501, "5.5.4")),
        ("FROM:a@b.test", (501, "5.1.7")),
        ("FROM:<a@b.test>SIZE=1", (501, "5.5.4")),
        ("FROM:<jörg@b.test>", (553, "5.6.7")),
        ("FROM:<a@b.test> ENVID=jörg", (501, "5.5.4")),
        ("FROM:<a@b.test> X=1", (555, "5.5.4")),
    ],
)
def test_bad_mail(argument: str, expected: tuple[int, str]) -> None:
    assert refused(lambda: parse_mail(Command(Verb.MAIL, argument), auth_offered=False))[:2] == expected


def test_mail_with_smtputf8_allows_utf8_path() -> None:
    path, params = parse_mail(Command(Verb.MAIL, "FROM:<jörg@bücher.example> SMTPUTF8"), auth_offered=False)
    assert path is not None and path.is_utf8 and params.smtputf8


def test_rcpt() -> None:
    address, params = parse_rcpt(Command(Verb.RCPT, "TO:<bob@example.test> NOTIFY=NEVER"), utf8=False)
    assert address == Address("bob", "example.test") and params.notify is not None
    assert parse_rcpt(Command(Verb.RCPT, "to:<jörg@example.test>"), utf8=True)[0].is_utf8


@pytest.mark.parametrize(
    ("argument", "expected"),
    [
        ("FROM:<a@b.test>", (501, "5.5.4")),
        ("TO:<>", (501, "5.1.3")),
        ("TO:<bob>", (501, "5.1.3")),
        ("TO:<jörg@b.test>", (553, "5.6.7")),
        ("TO:<a@b.test> SIZE=1", (555, "5.5.4")),
    ],
)
def test_bad_rcpt(argument: str, expected: tuple[int, str]) -> None:
    assert refused(lambda: parse_rcpt(Command(Verb.RCPT, argument), utf8=False))[:2] == expected


@pytest.mark.parametrize(
    ("argument", "expected"),
    [("0", (0, False)), ("10", (10, False)), ("10 LAST", (10, True)), ("10 last", (10, True)), ("007 LAST", (7, True))],
)
def test_bdat(argument: str, expected: tuple[int, bool]) -> None:
    assert parse_bdat(Command(Verb.BDAT, argument)) == expected


@pytest.mark.parametrize("argument", ["", "x", "-1", "10 FIRST", "10LAST", "1.5", "1" * 21])
def test_bad_bdat(argument: str) -> None:
    assert refused(lambda: parse_bdat(Command(Verb.BDAT, argument)))[:2] == (501, "5.5.4")


def test_auth() -> None:
    assert parse_auth(Command(Verb.AUTH, "plain")) == ("PLAIN", None)
    assert parse_auth(Command(Verb.AUTH, "PLAIN AGFsaWNl")) == ("PLAIN", "AGFsaWNl")
    assert parse_auth(Command(Verb.AUTH, "SCRAM-SHA-256 =")) == ("SCRAM-SHA-256", "=")
    for argument in ["", "PLAIN a b", "TOO-LONG-MECHANISM-NAME-X", "PL@IN"]:
        assert refused(lambda argument=argument: parse_auth(Command(Verb.AUTH, argument)))[:2] == (501, "5.5.4")
