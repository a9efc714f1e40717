"""ESMTP parameters of MAIL and RCPT: SIZE, BODY, SMTPUTF8, DSN, AUTH; unknown ones get 555."""

import pytest

from services.smtp.protocol import RemoteProtocolError
from services.smtp.protocol.parameters import (
    BodyType,
    DsnNotify,
    DsnReturn,
    MailParameters,
    OriginalRecipient,
    decode_xtext,
    parse_mail_parameters,
    parse_rcpt_parameters,
)


def mail(text: str, *, auth_offered: bool = False) -> MailParameters:
    return parse_mail_parameters(text, auth_offered=auth_offered)


def refusal(call: object) -> tuple[int, str | None]:
    assert callable(call)
    with pytest.raises(RemoteProtocolError) as caught:
        call()
    return caught.value.reply.code, caught.value.reply.enhanced


def test_no_parameters() -> None:
    assert mail("") == MailParameters()
    assert parse_rcpt_parameters("").notify is None


def test_all_mail_parameters() -> None:
    params = mail(
        " size=1234 body=8bitmime SMTPUTF8 RET=hdrs ENVID=QQ+2B314 AUTH=e+3Dmc2@example.com", auth_offered=True
    )
    assert params == MailParameters(
        size=1234,
        body=BodyType.EIGHT_BIT_MIME,
        smtputf8=True,
        ret=DsnReturn.HEADERS,
        envid="QQ+314",
        auth="e=mc2@example.com",
    )


def test_auth_parameter_may_be_empty_identity() -> None:
    assert mail("AUTH=<>", auth_offered=True).auth == "<>"


@pytest.mark.parametrize(
    "text",
    [
        "SIZE",
        "SIZE=",
        "SIZE=12a",
        "SIZE=-1",
        "SIZE=123456789012345678901",
        "BODY=BINARYMIME",
        "BODY",
        "RET=ALL",
        "SMTPUTF8=yes",
        "ENVID",
        "ENVID=a+zz",
        "ENVID=a+2b",
        "SIZE=1 SIZE=2",
        "SIZE=1 size=1",
        f"ENVID={'x' * 101}",
        "BODY=7BIT=x",
        "=5",
        "-X=1",
    ],
)
def test_bad_mail_values_get_501(text: str) -> None:
    assert refusal(lambda: mail(text, auth_offered=True)) == (501, "5.5.4")


@pytest.mark.parametrize("text", ["FOO=BAR", "XFORWARD", "NOTIFY=NEVER", "ORCPT=rfc822;a@b"])
def test_unknown_mail_parameters_get_555(text: str) -> None:
    assert refusal(lambda: mail(text)) == (555, "5.5.4")


def test_auth_parameter_unknown_unless_auth_offered() -> None:
    assert refusal(lambda: mail("AUTH=<>", auth_offered=False)) == (555, "5.5.4")


def test_body_values() -> None:
    assert mail("BODY=7bit").body is BodyType.SEVEN_BIT
    assert mail("BODY=8BITMIME").body is BodyType.EIGHT_BIT_MIME


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("NOTIFY=NEVER", {DsnNotify.NEVER}),
        ("NOTIFY=success,FAILURE,delay", {DsnNotify.SUCCESS, DsnNotify.FAILURE, DsnNotify.DELAY}),
        ("NOTIFY=FAILURE", {DsnNotify.FAILURE}),
    ],
)
def test_notify(text: str, expected: set[DsnNotify]) -> None:
    assert parse_rcpt_parameters(text).notify == frozenset(expected)


@pytest.mark.parametrize(
    "text", ["NOTIFY=NEVER,SUCCESS", "NOTIFY=SOMETIMES", "NOTIFY=", "NOTIFY", "NOTIFY=SUCCESS,SUCCESS"]
)
def test_bad_notify(text: str) -> None:
    assert refusal(lambda: parse_rcpt_parameters(text)) == (501, "5.5.4")


def test_orcpt() -> None:
    assert parse_rcpt_parameters("ORCPT=rfc822;bob+2Bx@example.test").orcpt == OriginalRecipient(
        "rfc822", "bob+x@example.test"
    )
    # RFC 6533 section 3: utf-8 addresses with \x{HEX} escapes, or raw UTF-8.
    assert parse_rcpt_parameters("ORCPT=UTF-8;j\\x{F6}rg@example.test").orcpt == OriginalRecipient(
        "utf-8", "jörg@example.test"
    )
    assert parse_rcpt_parameters("ORCPT=utf-8;jörg@example.test").orcpt == OriginalRecipient(
        "utf-8", "jörg@example.test"
    )


@pytest.mark.parametrize(
    "text",
    ["ORCPT=bob@example.test", "ORCPT=rfc822;", "ORCPT=;bob@x", "ORCPT=rfc822;a+zz", f"ORCPT=rfc822;{'a' * 500}"],
)
def test_bad_orcpt(text: str) -> None:
    assert refusal(lambda: parse_rcpt_parameters(text)) == (501, "5.5.4")


@pytest.mark.parametrize("text", ["SIZE=10", "BODY=8BITMIME", "RET=FULL", "XYZ"])
def test_mail_only_or_unknown_parameters_on_rcpt_get_555(text: str) -> None:
    assert refusal(lambda: parse_rcpt_parameters(text)) == (555, "5.5.4")


def test_xtext() -> None:
    assert decode_xtext("abc") == "abc"
    assert decode_xtext("a+2Bb+3Dc") == "a+b=c"
    assert decode_xtext("+C3+B6") == "ö"
    for bad in ["a+", "a+2", "a+2g", "a=b", "a b", "+FF"]:
        with pytest.raises(RemoteProtocolError):
            decode_xtext(bad)
