"""HELO, EHLO and LHLO (RFC 5321 section 4.1.1.1, RFC 2033 section 4.1)."""

from services.smtp.protocol import HeloReceived, ProtocolError, Reply, State, replies
from services.smtp.protocol.capabilities import ehlo_keywords
from tests.smtp.fakes import FakeTransport, make_config, run


def test_ehlo_reply_lists_extensions() -> None:
    transport = run(make_config(max_message_size=1000), b"EHLO client.example.test\r\n")
    assert transport.events[-1] == HeloReceived("client.example.test", extended=True)
    assert transport.take_output().endswith(
        b"250-mx.example.test\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n"
        b"250-ENHANCEDSTATUSCODES\r\n250-DSN\r\n250-CHUNKING\r\n250 HELP\r\n"
    )
    assert transport.session.state is State.READY


def test_helo_reply_is_one_line() -> None:
    transport = run(make_config(), b"HELO client.example.test\r\n")
    assert transport.events[-1] == HeloReceived("client.example.test", extended=False)
    assert transport.take_output().endswith(b"\r\n250 mx.example.test\r\n")


def test_keywords_follow_tls_and_auth_settings() -> None:
    plain = make_config(tls_available=True, auth_mechanisms=("PLAIN",))
    assert "STARTTLS" in ehlo_keywords(plain, tls_active=False)
    assert "AUTH PLAIN" not in ehlo_keywords(plain, tls_active=False)
    assert "STARTTLS" not in ehlo_keywords(plain, tls_active=True)
    assert "AUTH PLAIN" in ehlo_keywords(plain, tls_active=True)
    anywhere = make_config(auth_mechanisms=("PLAIN", "LOGIN"), auth_requires_tls=False)
    assert "AUTH PLAIN LOGIN" in ehlo_keywords(anywhere, tls_active=False)


def test_helo_needs_one_name() -> None:
    transport = run(make_config(), b"EHLO\r\nHELO two words\r\n")
    assert transport.events[1:] == [
        ProtocolError(replies.invalid_arguments("Syntax: EHLO hostname"), "EHLO"),
        ProtocolError(replies.invalid_arguments("Syntax: HELO hostname"), "HELO"),
    ]
    assert transport.session.state is State.AWAITING_HELO


def test_policy_may_refuse_the_name() -> None:
    transport = FakeTransport(make_config()).connect()
    session = transport.session
    session.receive_data(b"EHLO localhost\r\n")
    session.next_event()
    assert session.reply(Reply(550, "5.7.1", "Bad HELO")) == b"550 5.7.1 Bad HELO\r\n"
    assert session.state is State.AWAITING_HELO and session.helo_name is None


def test_ehlo_again_drops_the_transaction() -> None:
    transport = run(make_config(), b"EHLO a.example\r\nMAIL FROM:<a@example.test>\r\nEHLO b.example\r\n")
    assert transport.session.state is State.READY
    assert transport.session.helo_name == "b.example"
    transport.feed(b"RCPT TO:<bob@example.test>\r\n")
    assert transport.events[-1] == ProtocolError(replies.bad_sequence("Need MAIL before RCPT"), "RCPT")
