"""RCPT TO (RFC 5321 section 4.1.1.3): the caller decides; the core enforces order and count."""

from services.smtp.protocol import (
    Address,
    DsnNotify,
    MessageComplete,
    ProtocolError,
    RcptParameters,
    RecipientReceived,
    State,
    replies,
)
from tests.smtp.fakes import make_config, run

START = b"EHLO client.example.test\r\nMAIL FROM:<alice@example.test>\r\n"


def test_recipient_is_a_question() -> None:
    transport = run(make_config(), START + b"RCPT TO:<bob@example.test> NOTIFY=FAILURE\r\n")
    assert transport.events[-1] == RecipientReceived(
        Address("bob", "example.test"), RcptParameters(notify=frozenset({DsnNotify.FAILURE}))
    )
    assert transport.session.state is State.HAVE_RECIPIENTS


def test_only_accepted_recipients_enter_the_envelope() -> None:
    transport = run(
        make_config(),
        START + b"RCPT TO:<bob@example.test>\r\nRCPT TO:<eve@elsewhere.test>\r\nRCPT TO:<carol@example.test>\r\n",
        b"DATA\r\nhi\r\n.\r\n",
    )
    complete = transport.events[-1]
    assert isinstance(complete, MessageComplete)
    assert [r.address.text for r in complete.envelope.recipients] == ["bob@example.test", "carol@example.test"]
    assert b"550 5.1.1 Mailbox unknown\r\n" in transport.take_output()


def test_all_recipients_refused_keeps_the_sender_state() -> None:
    transport = run(make_config(), START + b"RCPT TO:<eve@elsewhere.test>\r\n")
    assert transport.session.state is State.HAVE_SENDER


def test_recipient_limit_answers_452_without_asking() -> None:
    transport = run(
        make_config(max_recipients=2),
        START + b"RCPT TO:<a@example.test>\r\nRCPT TO:<b@example.test>\r\nRCPT TO:<c@example.test>\r\n",
    )
    assert sum(isinstance(event, RecipientReceived) for event in transport.events) == 2
    assert transport.take_output().endswith(b"250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n452 4.5.3 Too many recipients\r\n")
    assert transport.session.error_count == 0


def test_rejected_recipients_do_not_count_towards_the_limit() -> None:
    transport = run(
        make_config(max_recipients=1),
        START + b"RCPT TO:<eve@elsewhere.test>\r\nRCPT TO:<a@example.test>\r\n",
    )
    assert transport.take_output().endswith(b"550 5.1.1 Mailbox unknown\r\n250 2.1.5 Ok\r\n")


def test_postmaster_without_domain() -> None:
    transport = run(make_config(), START + b"RCPT TO:<postmaster>\r\n")
    event = transport.events[-1]
    assert isinstance(event, RecipientReceived) and event.address.is_postmaster


def test_bad_recipient_syntax() -> None:
    transport = run(make_config(), START + "RCPT TO:<bob@>\r\nRCPT TO:<jörg@example.test>\r\n".encode())
    assert transport.events[-2:] == [
        ProtocolError(replies.bad_recipient_address("Invalid domain"), "RCPT"),
        ProtocolError(replies.non_ascii_address(), "RCPT"),
    ]
