"""PIPELINING (RFC 2920): replies in command order, and no reading past a pending decision."""

from services.smtp.protocol import (
    NEED_DATA,
    HeloReceived,
    MailFromReceived,
    MessageComplete,
    RecipientReceived,
    Session,
)
from tests.smtp.fakes import FakeTransport, make_config, run


def test_rfc_2920_example_group() -> None:
    transport = run(make_config(), b"EHLO client.example.test\r\n")
    transport.take_output()
    transport.feed(
        b"MAIL FROM:<mrose@example.test>\r\nRCPT TO:<ned@example.test>\r\nRCPT TO:<dan@elsewhere.test>\r\n"
        b"RCPT TO:<kvc@example.test>\r\nDATA\r\n"
    )
    assert transport.take_output() == (
        b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 Mailbox unknown\r\n250 2.1.5 Ok\r\n"
        b"354 End data with <CR><LF>.<CR><LF>\r\n"
    )


def test_nothing_is_read_while_a_question_is_open() -> None:
    transport = FakeTransport(make_config()).connect()
    session: Session = transport.session
    session.receive_data(b"EHLO c\r\nMAIL FROM:<a@example.test>\r\nRCPT TO:<b@example.test>\r\n")
    assert isinstance(session.next_event(), HeloReceived)
    assert session.buffered_bytes > 0  # the rest waits
    session.accept()
    assert isinstance(session.next_event(), MailFromReceived)
    session.accept()
    assert isinstance(session.next_event(), RecipientReceived)
    session.accept()
    assert session.next_event() is NEED_DATA


def test_envelope_data_and_next_transaction_in_one_write() -> None:
    transport = run(
        make_config(),
        b"EHLO c\r\nMAIL FROM:<a@example.test>\r\nRCPT TO:<b@example.test>\r\nDATA\r\none\r\n.\r\n"
        b"MAIL FROM:<a@example.test>\r\nRCPT TO:<b@example.test>\r\nDATA\r\ntwo\r\n.\r\nQUIT\r\n",
    )
    assert [m.content for m in transport.policy.delivered] == [b"one\r\n", b"two\r\n"]
    assert sum(isinstance(event, MessageComplete) for event in transport.events) == 2
    assert transport.take_output().endswith(
        b"250 2.0.0 Ok: queued\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n"
        b"250 2.0.0 Ok: queued\r\n221 2.0.0 mx.example.test closing connection\r\n"
    )
