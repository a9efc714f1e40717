"""MAIL FROM (RFC 5321 section 4.1.1.2) with SIZE, SMTPUTF8, AUTH= and the submission rule."""

from services.smtp.protocol import (
    Address,
    BodyType,
    MailFromReceived,
    MailParameters,
    ProtocolError,
    RecipientReceived,
    State,
    replies,
)
from tests.smtp.fakes import make_config, run

HELLO = b"EHLO client.example.test\r\n"


def test_mail_asks_the_caller() -> None:
    transport = run(make_config(), HELLO + b"MAIL FROM:<alice@example.test> BODY=8BITMIME SIZE=42\r\n")
    assert transport.events[-1] == MailFromReceived(
        Address("alice", "example.test"), MailParameters(size=42, body=BodyType.EIGHT_BIT_MIME)
    )
    assert transport.take_output().endswith(b"250 2.1.0 Ok\r\n")
    assert transport.session.state is State.HAVE_SENDER


def test_null_reverse_path() -> None:
    transport = run(make_config(), HELLO + b"MAIL FROM:<>\r\n")
    assert transport.events[-1] == MailFromReceived(None, MailParameters())


def test_declared_size_over_the_limit_is_refused_without_asking() -> None:
    transport = run(make_config(max_message_size=100), HELLO + b"MAIL FROM:<a@example.test> SIZE=101\r\n")
    assert not any(isinstance(event, MailFromReceived) for event in transport.events)
    assert transport.take_output().endswith(b"552 5.3.4 Message size exceeds fixed maximum message size\r\n")
    assert transport.session.state is State.READY
    assert transport.session.error_count == 0  # a refusal, not a client error


def test_syntax_errors_are_protocol_errors() -> None:
    transport = run(make_config(), HELLO + b"MAIL FROM:alice@example.test\r\nMAIL TO:<a@b.test>\r\n")
    assert transport.events[-2:] == [
        ProtocolError(replies.bad_sender_address("Address must be enclosed in <>"), "MAIL"),
        ProtocolError(replies.invalid_arguments("Syntax: MAIL FROM:<address>"), "MAIL"),
    ]
    assert transport.session.error_count == 2


def test_submission_requires_auth_first() -> None:
    config = make_config(auth_mechanisms=("PLAIN",), auth_requires_tls=False, auth_required=True)
    transport = run(config, HELLO + b"MAIL FROM:<alice@example.test>\r\n")
    assert transport.take_output().endswith(b"530 5.7.0 Authentication required\r\n")
    transport.feed(b"AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABzZWNyZXQ=\r\nMAIL FROM:<alice@example.test>\r\n")
    assert isinstance(transport.events[-1], MailFromReceived)


def test_auth_parameter_only_when_auth_is_offered() -> None:
    line = b"MAIL FROM:<alice@example.test> AUTH=alice+40example.test\r\n"
    transport = run(make_config(), HELLO + line)
    assert transport.events[-1] == ProtocolError(replies.parameter_unrecognized("AUTH"), "MAIL")
    config = make_config(auth_mechanisms=("PLAIN",), auth_requires_tls=False)
    transport = run(config, HELLO + line)
    event = transport.events[-1]
    assert isinstance(event, MailFromReceived) and event.params.auth == "alice@example.test"


def test_smtputf8_on_mail_allows_utf8_recipients() -> None:
    transport = run(
        make_config(), HELLO + "MAIL FROM:<jörg@example.test> SMTPUTF8\r\nRCPT TO:<zoë@example.test>\r\n".encode()
    )
    mail, rcpt = transport.events[-2:]
    assert isinstance(mail, MailFromReceived) and mail.params.smtputf8
    assert isinstance(rcpt, RecipientReceived) and rcpt.address.local_part == "zoë"


def test_non_ascii_without_smtputf8_gets_553() -> None:
    transport = run(make_config(), HELLO + "MAIL FROM:<jörg@example.test>\r\n".encode())
    assert transport.events[-1] == ProtocolError(replies.non_ascii_address(), "MAIL")
