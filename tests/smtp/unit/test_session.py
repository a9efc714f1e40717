"""The session's contract with its caller: greeting, questions and answers, end of stream."""

import pytest

from services.smtp.protocol import (
    NEED_DATA,
    ConnectionLost,
    DataStarted,
    GreetingNeeded,
    HeloReceived,
    LocalProtocolError,
    MailFromReceived,
    MessageComplete,
    MessageDataChunk,
    ProtocolError,
    QuitReceived,
    Reply,
    Session,
    SessionTerminated,
    State,
    replies,
)
from tests.smtp.fakes import make_config, run

HELLO = b"EHLO client.example.test\r\n"
ENVELOPE = b"MAIL FROM:<alice@example.test>\r\nRCPT TO:<bob@example.test>\r\n"


def greeted() -> Session:
    session = Session(make_config())
    assert session.next_event() == GreetingNeeded()
    session.accept()
    return session


def test_greeting_is_the_first_question() -> None:
    session = Session(make_config())
    assert session.state is State.AWAITING_GREETING
    assert session.next_event() == GreetingNeeded()
    with pytest.raises(LocalProtocolError):
        session.next_event()  # answer first
    assert session.accept() == b"220 mx.example.test ESMTP ready\r\n"
    assert session.next_event() is NEED_DATA
    assert session.state is State.AWAITING_HELO


def test_refused_greeting_honours_only_quit() -> None:
    # RFC 5321 section 3.1: after 554 the server answers 503 to all but QUIT.
    session = Session(make_config())
    session.next_event()
    assert session.reply(replies.no_service("mx.example.test")) == b"554 mx.example.test no SMTP service here\r\n"
    assert session.state is State.REFUSED
    session.receive_data(HELLO + b"QUIT\r\n")
    events = [session.next_event() for _ in range(3)]
    assert [type(event) for event in events] == [ProtocolError, QuitReceived, type(NEED_DATA)]
    assert (
        session.data_to_send()
        == b"503 5.5.1 Bad sequence of commands\r\n221 2.0.0 mx.example.test closing connection\r\n"
    )


def test_421_greeting_ends_the_session() -> None:
    session = Session(make_config())
    session.next_event()
    reply = replies.service_unavailable("mx.example.test")
    assert session.reply(reply).startswith(b"421 4.3.2 ")
    assert session.next_event() == SessionTerminated(reply)
    assert session.state is State.CLOSED


def test_answers_need_a_delivered_question() -> None:
    session = Session(make_config())
    with pytest.raises(LocalProtocolError):
        session.accept()
    session.next_event()
    session.accept()
    with pytest.raises(LocalProtocolError):
        session.reply(replies.ok())


def test_client_talking_before_the_greeting_is_read_afterwards() -> None:
    session = Session(make_config())
    session.receive_data(HELLO)
    assert session.next_event() == GreetingNeeded()
    session.accept()
    assert session.next_event() == HeloReceived("client.example.test", extended=True)


def test_reply_returns_earlier_queued_replies_first() -> None:
    session = greeted()
    session.receive_data(b"HELO c.example.test\r\n")
    session.next_event()
    session.accept()
    session.receive_data(b"NOOP\r\nMAIL FROM:<a@b.test>\r\n")
    assert isinstance(session.next_event(), MailFromReceived)
    assert session.accept() == b"250 2.0.0 Ok\r\n250 2.1.0 Ok\r\n"


def test_end_of_stream_is_reported_once() -> None:
    session = greeted()
    session.receive_data(b"HELO")  # an unfinished line is lost
    session.receive_data(b"")
    assert session.next_event() == ConnectionLost()
    assert session.next_event() is NEED_DATA
    assert session.state is State.CLOSED
    with pytest.raises(LocalProtocolError):
        session.receive_data(b"more")


def test_end_of_stream_during_data_loses_the_message() -> None:
    transport = run(make_config(), HELLO + ENVELOPE + b"DATA\r\n", b"Subject: x\r\n\r\npartial")
    transport.feed(b"")
    kinds = [type(event) for event in transport.events]
    assert kinds[-3:] == [DataStarted, MessageDataChunk, ConnectionLost]
    assert MessageComplete not in kinds
    assert transport.closed


def test_nothing_is_read_after_quit() -> None:
    transport = run(make_config(), HELLO + b"QUIT\r\nMAIL FROM:<a@example.test>\r\n")
    transport.session.receive_data(b"RCPT TO:<b@example.test>\r\n")
    assert transport.session.next_event() is NEED_DATA
    assert not any(isinstance(event, MailFromReceived) for event in transport.events)
    assert transport.session.buffered_bytes == 0


def test_refused_mail_leaves_the_state_unchanged() -> None:
    session = greeted()
    session.receive_data(HELLO)
    session.next_event()
    session.accept()
    session.receive_data(b"MAIL FROM:<spammer@example.test>\r\n")
    session.next_event()
    assert session.reply(Reply(550, "5.7.1", "Sender refused")) == b"550 5.7.1 Sender refused\r\n"
    assert session.state is State.READY
    session.receive_data(b"RCPT TO:<bob@example.test>\r\n")
    assert session.next_event() == ProtocolError(replies.bad_sequence("Need MAIL before RCPT"), "RCPT")


def test_caller_answering_421_ends_the_session() -> None:
    session = greeted()
    session.receive_data(HELLO + b"MAIL FROM:<a@example.test>\r\nRCPT TO:<b@example.test>\r\nNOOP\r\n")
    for _ in range(2):
        session.next_event()
        session.accept()
    session.next_event()
    closing = Reply(421, "4.3.2", "Shutting down")
    assert session.reply(closing) == b"421 4.3.2 Shutting down\r\n"
    assert session.next_event() == SessionTerminated(closing)
    assert session.next_event() is NEED_DATA
    assert session.data_to_send() == b""


def test_properties() -> None:
    transport = run(make_config(), HELLO)
    session = transport.session
    assert session.helo_name == "client.example.test"
    assert session.tls_active is False and session.authenticated_as is None
    assert session.error_count == 0 and session.buffered_bytes == 0


def test_intermediate_replies_are_not_the_callers_to_send() -> None:
    session = greeted()
    session.receive_data(HELLO)
    session.next_event()
    with pytest.raises(LocalProtocolError):
        session.reply(Reply(354, None, "go ahead"))
