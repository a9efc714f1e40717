"""STARTTLS (RFC 3207): plaintext after the command is discarded, and the session starts over."""

import pytest

from services.smtp.protocol import (
    NEED_DATA,
    LocalProtocolError,
    MailFromReceived,
    ProtocolError,
    RecipientReceived,
    State,
    replies,
)
from services.smtp.protocol.events import StartTlsRequested
from tests.smtp.fakes import FakeTransport, make_config, run

TLS = make_config(tls_available=True, auth_mechanisms=("PLAIN",))
HELLO = b"EHLO client.example.test\r\n"
INJECTED = b"MAIL FROM:<attacker@example.test>\r\nRCPT TO:<bob@example.test>\r\n"


def test_pipelined_plaintext_is_discarded() -> None:
    transport = run(TLS, HELLO + b"STARTTLS\r\n" + INJECTED)
    assert transport.events[-1] == StartTlsRequested()
    assert transport.take_output().endswith(b"220 2.0.0 Ready to start TLS\r\n")
    assert transport.session.state is State.AWAITING_TLS
    assert transport.session.next_event() is NEED_DATA  # nothing after STARTTLS is read
    transport.start_tls()
    assert transport.discarded_at_tls == len(INJECTED)
    assert not any(isinstance(event, MailFromReceived | RecipientReceived) for event in transport.events)
    assert transport.session.state is State.AWAITING_HELO and transport.session.tls_active
    transport.feed(HELLO + b"RCPT TO:<bob@example.test>\r\n")
    assert transport.events[-1] == ProtocolError(replies.bad_sequence("Need MAIL before RCPT"), "RCPT")


def test_plaintext_arriving_before_the_handshake_is_discarded_too() -> None:
    transport = run(TLS, HELLO + b"STARTTLS\r\n")
    transport.feed(INJECTED)
    transport.start_tls()
    assert transport.discarded_at_tls == len(INJECTED)


def test_session_forgets_helo_and_advertises_auth() -> None:
    transport = run(TLS, HELLO + b"STARTTLS\r\n")
    assert transport.session.helo_name == "client.example.test"
    output = transport.take_output()
    assert b"250-STARTTLS\r\n" in output and b"AUTH" not in output
    transport.start_tls()
    assert transport.session.helo_name is None
    transport.feed(HELLO)
    output = transport.take_output()
    assert b"STARTTLS" not in output and b"250-AUTH PLAIN\r\n" in output


def test_authentication_before_tls_is_forgotten() -> None:
    config = make_config(tls_available=True, auth_mechanisms=("PLAIN",), auth_requires_tls=False)
    transport = run(config, HELLO + b"AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABzZWNyZXQ=\r\nSTARTTLS\r\n")
    assert transport.session.authenticated_as == "alice@example.test"
    transport.start_tls()
    assert transport.session.authenticated_as is None


def test_caller_may_refuse_and_the_session_goes_on_in_plaintext() -> None:
    transport = FakeTransport(TLS).connect()
    session = transport.session
    session.receive_data(HELLO)
    session.next_event()
    session.accept()
    session.receive_data(b"STARTTLS\r\nNOOP\r\n")
    assert session.next_event() == StartTlsRequested()
    assert session.reply(replies.tls_unavailable()) == b"454 4.7.0 TLS not available due to temporary reason\r\n"
    assert session.state is State.READY
    assert session.next_event() is NEED_DATA
    assert session.data_to_send() == b"250 2.0.0 Ok\r\n"


def test_start_tls_only_after_an_accepted_starttls() -> None:
    transport = run(TLS, HELLO)
    with pytest.raises(LocalProtocolError):
        transport.session.start_tls()


def test_refusals() -> None:
    transport = run(TLS, b"STARTTLS\r\n" + HELLO + b"STARTTLS x\r\n")
    assert transport.events[1] == ProtocolError(replies.bad_sequence("Send HELO/EHLO/LHLO first"), "STARTTLS")
    assert transport.events[-1] == ProtocolError(
        replies.invalid_arguments("Syntax: STARTTLS (no parameters allowed)"), "STARTTLS"
    )
    assert run(make_config(), HELLO + b"STARTTLS\r\n").events[-1] == ProtocolError(
        replies.not_implemented(), "STARTTLS"
    )
    active = run(make_config(tls_available=True, tls_active=True), HELLO + b"STARTTLS\r\n")
    assert active.events[-1] == ProtocolError(replies.bad_sequence("TLS already active"), "STARTTLS")
