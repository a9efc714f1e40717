"""LMTP (RFC 2033): LHLO, and one final reply per accepted recipient."""

import pytest

from services.smtp.protocol import (
    NEED_DATA,
    LocalProtocolError,
    MessageComplete,
    ProtocolError,
    Reply,
    SessionTerminated,
    replies,
)
from tests.smtp.fakes import FakeTransport, make_config, run

LMTP = make_config(lmtp=True)
ENVELOPE = (
    b"LHLO client.example.test\r\nMAIL FROM:<alice@example.test>\r\nRCPT TO:<bob@example.test>\r\n"
    b"RCPT TO:<nobody@elsewhere.test>\r\nRCPT TO:<full@example.test>\r\n"
)


def test_greeting_names_lmtp() -> None:
    assert run(LMTP).take_output() == b"220 mx.example.test LMTP ready\r\n"


def test_one_reply_per_accepted_recipient_in_order() -> None:
    transport = run(LMTP, ENVELOPE + b"DATA\r\nhello\r\n.\r\n")
    assert transport.take_output().endswith(
        b"354 End data with <CR><LF>.<CR><LF>\r\n250 2.0.0 Delivered\r\n452 4.2.2 Mailbox full\r\n"
    )


def test_bdat_last_also_gets_one_reply_per_recipient() -> None:
    transport = run(LMTP, ENVELOPE + b"BDAT 5 LAST\r\nhello")
    assert transport.take_output().endswith(b"250 2.0.0 Delivered\r\n452 4.2.2 Mailbox full\r\n")


def final_question() -> FakeTransport:
    transport = FakeTransport(LMTP).connect()
    session = transport.session
    session.receive_data(ENVELOPE + b"DATA\r\nhi\r\n.\r\n")
    while not isinstance(event := session.next_event(), MessageComplete):
        assert event is not NEED_DATA
        transport.policy.respond(session, event)
    return transport


def test_reply_and_accept_are_repeated_for_each_recipient() -> None:
    session = final_question().session
    session.data_to_send()
    assert session.reply(replies.message_too_big()) == replies.message_too_big().to_bytes() * 2
    session = final_question().session
    session.data_to_send()
    assert session.accept() == b"250 2.0.0 Ok: queued\r\n" * 2


def test_reply_each_needs_one_reply_per_recipient() -> None:
    session = final_question().session
    with pytest.raises(LocalProtocolError):
        session.reply_each([replies.ok()])
    session.data_to_send()
    assert session.reply_each([Reply(250, "2.1.5", "a"), Reply(450, "4.2.0", "b")]) == (
        b"250 2.1.5 a\r\n450 4.2.0 b\r\n"
    )


def test_reply_each_is_for_lmtp_only() -> None:
    transport = FakeTransport(make_config()).connect()
    session = transport.session
    session.receive_data(b"EHLO c\r\nMAIL FROM:<a@example.test>\r\nRCPT TO:<b@example.test>\r\nDATA\r\nx\r\n.\r\n")
    while not isinstance(event := session.next_event(), MessageComplete):
        assert event is not NEED_DATA
        transport.policy.respond(session, event)
    with pytest.raises(LocalProtocolError):
        session.reply_each([replies.ok()])


def test_failed_message_gets_one_reply_per_recipient() -> None:
    transport = run(make_config(lmtp=True, max_message_size=5), ENVELOPE + b"DATA\r\n0123456789\r\n.\r\n")
    assert transport.take_output().endswith(replies.message_too_big().to_bytes() * 2)


def test_bare_newline_answers_each_recipient_then_closes() -> None:
    transport = run(LMTP, ENVELOPE + b"DATA\r\nbad\n.\n")
    assert transport.take_output().endswith(replies.bare_newline().to_bytes() * 2)
    assert transport.events[-1] == SessionTerminated(replies.bare_newline())


def test_helo_and_ehlo_are_not_lmtp() -> None:
    transport = run(LMTP, b"HELO c\r\nEHLO c\r\n")
    assert transport.events[1:] == [ProtocolError(replies.command_unrecognized(), None)] * 2


def test_a_421_among_the_replies_ends_the_session() -> None:
    session = final_question().session
    closing = Reply(421, "4.3.2", "Shutting down")
    session.reply_each([replies.ok(), closing])
    assert session.next_event() == SessionTerminated(closing)
