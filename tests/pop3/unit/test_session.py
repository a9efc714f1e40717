"""The session's contract with its caller: questions, answers, states, closing."""

from __future__ import annotations

import pytest

from services.pop3.protocol import (
    NEED_DATA,
    ConnectionLost,
    Limits,
    LocalProtocolError,
    Maildrop,
    MaildropMessage,
    MessageRequested,
    PasswordReceived,
    ProtocolError,
    Session,
    SessionConfig,
    SessionTerminated,
    State,
    UpdateRequested,
)
from tests.pop3.fakes import HOSTNAME, FakeBackend, logged_in, run

PLAINTEXT = SessionConfig(hostname=HOSTNAME, plaintext_auth_allowed=True)


def test_greeting_is_queued_at_once() -> None:
    session = Session(PLAINTEXT)
    assert session.data_to_send() == b"+OK pop.example.test POP3 server ready\r\n"
    assert session.next_event() is NEED_DATA


def test_pass_is_a_question_and_nothing_is_parsed_until_it_is_answered() -> None:
    session = Session(PLAINTEXT)
    session.receive_data(b"USER alice@example.test\r\nPASS s3cret word\r\nSTAT\r\n")
    event = session.next_event()
    assert event == PasswordReceived("alice@example.test", "s3cret word")
    assert "s3cret" not in repr(event)
    with pytest.raises(LocalProtocolError):
        session.next_event()
    out = session.login_succeeded("alice@example.test", Maildrop(()))
    assert out.endswith(b"+OK Logged in, maildrop has 0 messages (0 octets)\r\n")
    assert session.state is State.TRANSACTION
    assert session.authenticated_as == "alice@example.test"
    assert session.next_event() is NEED_DATA
    assert session.data_to_send() == b"+OK 0 0\r\n"


def test_answering_a_question_that_was_not_asked_is_a_local_error() -> None:
    session = Session(PLAINTEXT)
    with pytest.raises(LocalProtocolError):
        session.login_succeeded("a@b.c", Maildrop(()))
    with pytest.raises(LocalProtocolError):
        session.send_message()
    with pytest.raises(LocalProtocolError):
        session.start_tls()


def test_connection_lost_in_transaction_asks_for_no_update() -> None:
    transport = logged_in()
    transport.feed(b"DELE 1\r\n")
    transport.feed(b"")
    assert isinstance(transport.events[-1], ConnectionLost)
    assert transport.session.state is State.CLOSED
    assert not any(isinstance(e, UpdateRequested) for e in transport.events)
    assert transport.backend.removed == []


def test_quit_hands_over_exactly_the_marked_messages_and_the_retrieved_ones() -> None:
    backend = FakeBackend()
    transport = logged_in(backend=backend)
    transport.feed(b"RETR 1\r\nRETR 2\r\nDELE 2\r\nDELE 3\r\nRSET\r\nDELE 3\r\nQUIT\r\n")
    update = transport.events[-1]
    assert isinstance(update, UpdateRequested)
    assert [m.uid for m in update.deleted] == [9]
    assert [m.uid for m in update.retrieved] == [4, 7]
    assert transport.session.state is State.CLOSED
    assert transport.take_output().endswith(b"signing off (1 message deleted)\r\n")


def test_update_failure_answers_the_rfc_text() -> None:
    session = Session(PLAINTEXT)
    session.receive_data(b"USER a@example.test\r\nPASS x\r\n")
    session.next_event()
    session.login_succeeded("a@example.test", Maildrop((MaildropMessage(uid=1, size=3, unique_id="1.1"),)))
    session.receive_data(b"DELE 1\r\nQUIT\r\n")
    assert isinstance(session.next_event(), UpdateRequested)
    out = session.update_failed()
    assert out.endswith(b"-ERR [SYS/TEMP] Some deleted messages not removed\r\n")
    assert session.state is State.CLOSED


def test_message_request_carries_the_number_and_top_lines() -> None:
    transport = logged_in()
    transport.feed(b"TOP 3 5\r\n")
    event = [e for e in transport.events if isinstance(e, MessageRequested)][-1]
    assert (event.number, event.message.uid, event.lines) == (3, 9, 5)


def test_errors_are_counted_and_the_last_one_terminates() -> None:
    config = SessionConfig(hostname=HOSTNAME, limits=Limits(max_errors=2))
    transport = run(config, b"FOO\r\n")
    assert isinstance(transport.events[-1], ProtocolError)
    transport.feed(b"BAR\r\nQUIT\r\n")
    assert isinstance(transport.events[-1], SessionTerminated)
    assert transport.session.state is State.CLOSED
    assert transport.take_output().endswith(b"-ERR Too many errors, closing connection\r\n")


def test_data_after_close_is_ignored() -> None:
    transport = run(PLAINTEXT, b"QUIT\r\n")
    transport.session.receive_data(b"USER x\r\n" * 1000)
    assert transport.session.buffered_bytes == 0
    assert transport.session.next_event() is NEED_DATA


def test_limits_below_the_rfc_floor_are_refused() -> None:
    with pytest.raises(ValueError):
        Limits(max_command_line=254)


def test_unique_ids_must_be_printable_and_short() -> None:
    with pytest.raises(ValueError):
        Maildrop((MaildropMessage(uid=1, size=1, unique_id="has space"),))
    with pytest.raises(ValueError):
        Maildrop((MaildropMessage(uid=1, size=1, unique_id="x" * 71),))
