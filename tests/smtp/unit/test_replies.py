"""Replies: wire format, enhanced codes, and refusal of text that would inject lines."""

import pytest

from services.smtp.protocol import LocalProtocolError, Reply, replies


def test_single_line_with_enhanced_code() -> None:
    assert Reply(550, "5.1.1", "Mailbox unknown").to_bytes() == b"550 5.1.1 Mailbox unknown\r\n"


def test_single_line_without_enhanced_code() -> None:
    assert replies.greeting("mx.example.test").to_bytes() == b"220 mx.example.test ESMTP ready\r\n"
    assert replies.greeting("mx.example.test", lmtp=True).to_bytes() == b"220 mx.example.test LMTP ready\r\n"


def test_multiline_uses_hyphen_until_the_last_line() -> None:
    reply = replies.ehlo("mx.example.test", ["PIPELINING", "SIZE 10"])
    assert reply.multiline
    assert reply.to_bytes() == b"250-mx.example.test\r\n250-PIPELINING\r\n250 SIZE 10\r\n"


def test_enhanced_code_repeats_on_every_line() -> None:
    reply = Reply(214, "2.0.0", "one", ("two",))
    assert reply.to_bytes() == b"214-2.0.0 one\r\n214 2.0.0 two\r\n"


def test_empty_auth_challenge_keeps_the_space() -> None:
    # RFC 4954 section 4: "the complete response line is '334 '".
    assert replies.auth_challenge(b"").to_bytes() == b"334 \r\n"
    assert replies.auth_challenge(b"Username:").to_bytes() == b"334 VXNlcm5hbWU6\r\n"


def test_utf8_text_is_encoded() -> None:
    assert Reply(250, "2.0.0", "grüß").to_bytes() == "250 2.0.0 grüß\r\n".encode()


@pytest.mark.parametrize("code", [199, 600, 260, 100, 0])
def test_invalid_codes_are_refused(code: int) -> None:
    with pytest.raises(LocalProtocolError):
        Reply(code, None, "x")


@pytest.mark.parametrize(
    ("code", "enhanced"), [(250, "5.0.0"), (550, "2.1.1"), (354, "3.0.0"), (550, "5.1"), (550, "x")]
)
def test_enhanced_code_must_match_the_reply_class(code: int, enhanced: str) -> None:
    with pytest.raises(LocalProtocolError):
        Reply(code, enhanced, "x")


@pytest.mark.parametrize("text", ["a\r\n250 injected", "a\nb", "a\rb", "nul\0"])
def test_text_cannot_inject_lines(text: str) -> None:
    with pytest.raises(LocalProtocolError):
        Reply(550, "5.1.1", text)
    with pytest.raises(LocalProtocolError):
        Reply(250, None, "ok", (text,))


def test_classes() -> None:
    assert replies.ok().is_positive
    assert replies.too_many_recipients().is_transient
    assert replies.mailbox_unknown().is_permanent
    assert not replies.start_data().is_positive


@pytest.mark.parametrize(
    ("reply", "wire"),
    [
        (replies.bad_sequence(), b"503 5.5.1 Bad sequence of commands\r\n"),
        (replies.command_unrecognized(), b"500 5.5.2 Command unrecognized\r\n"),
        (replies.line_too_long(), b"500 5.5.2 Line too long\r\n"),
        (replies.parameter_unrecognized("FOO"), b"555 5.5.4 Unsupported parameter FOO\r\n"),
        (replies.message_too_big(), b"552 5.3.4 Message size exceeds fixed maximum message size\r\n"),
        (replies.too_many_recipients(), b"452 4.5.3 Too many recipients\r\n"),
        (replies.non_ascii_address(), b"553 5.6.7 Non-ASCII address requires SMTPUTF8\r\n"),
        (replies.bare_newline(), b"550 5.5.2 Bare <CR> or <LF> received, closing connection\r\n"),
        (replies.auth_line_too_long(), b"500 5.5.6 Authentication exchange line is too long\r\n"),
        (replies.auth_encryption_required().code, 538),
        (replies.cannot_verify().code, 252),
        (replies.start_data(), b"354 End data with <CR><LF>.<CR><LF>\r\n"),
    ],
)
def test_standard_replies(reply: object, wire: object) -> None:
    assert (reply.to_bytes() if isinstance(reply, Reply) else reply) == wire
