"""AUTH (RFC 4954): the session carries SASL steps; the caller judges the credentials."""

import base64

import pytest

from libs.auth import scram
from services.smtp.protocol import (
    NEED_DATA,
    AuthCancelled,
    AuthResponse,
    AuthStarted,
    LocalProtocolError,
    PlainCredentials,
    ProtocolError,
    Reply,
    Session,
    State,
    decode_plain,
    replies,
)
from services.smtp.protocol.auth import decode_initial_response, decode_response
from tests.smtp.fakes import SCRAM_ITERATIONS, SCRAM_SALT, SCRAM_SERVER_NONCE, FakeTransport, make_config, run

CONFIG = make_config(auth_mechanisms=("PLAIN", "LOGIN", "SCRAM-SHA-256"), auth_requires_tls=False)
HELLO = b"EHLO client.example.test\r\n"
PLAIN = base64.b64encode(b"\0alice@example.test\0secret")


def b64(data: bytes) -> bytes:
    return base64.b64encode(data)


def test_plain_with_initial_response() -> None:
    transport = run(CONFIG, HELLO + b"AUTH PLAIN " + PLAIN + b"\r\n")
    assert transport.events[-1] == AuthStarted("PLAIN", b"\0alice@example.test\0secret")
    assert transport.take_output().endswith(b"235 2.7.0 Authentication successful\r\n")
    assert transport.session.authenticated_as == "alice@example.test"
    assert transport.session.state is State.READY


def test_plain_after_an_empty_challenge() -> None:
    transport = run(CONFIG, HELLO + b"AUTH plain\r\n")
    assert transport.events[-1] == AuthStarted("PLAIN", None)
    assert transport.take_output().endswith(b"334 \r\n")
    assert transport.session.state is State.AUTHENTICATING
    transport.feed(PLAIN + b"\r\n")
    assert transport.events[-1] == AuthResponse("PLAIN", b"\0alice@example.test\0secret")
    assert transport.take_output() == b"235 2.7.0 Authentication successful\r\n"


def test_empty_initial_response_is_an_equals_sign() -> None:
    transport = run(CONFIG, HELLO + b"AUTH PLAIN =\r\n")
    assert AuthStarted("PLAIN", b"") in transport.events


def test_login_in_two_steps() -> None:
    transport = run(CONFIG, HELLO + b"AUTH LOGIN\r\n", b64(b"alice@example.test") + b"\r\n", b64(b"secret") + b"\r\n")
    assert transport.events[-3:] == [
        AuthStarted("LOGIN", None),
        AuthResponse("LOGIN", b"alice@example.test"),
        AuthResponse("LOGIN", b"secret"),
    ]
    assert transport.take_output().endswith(
        b"334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n235 2.7.0 Authentication successful\r\n"
    )


def test_scram_sha_256_as_opaque_steps() -> None:
    client_first_bare = "n=alice@example.test,r=abc"
    transport = run(CONFIG, HELLO + b"AUTH SCRAM-SHA-256 " + b64(f"n,,{client_first_bare}".encode()) + b"\r\n")
    challenge = transport.take_output().rsplit(b"\r\n", 2)[-2]
    assert challenge.startswith(b"334 ")
    server_first = base64.b64decode(challenge[4:]).decode()
    assert server_first.startswith(f"r=abc{SCRAM_SERVER_NONCE},")
    without_proof = f"c=biws,r=abc{SCRAM_SERVER_NONCE}"
    auth_message = f"{client_first_bare},{server_first},{without_proof}"
    proof, signature = scram.client_proof(
        "secret", salt=SCRAM_SALT, iterations=SCRAM_ITERATIONS, auth_message=auth_message
    )
    transport.feed(b64(f"{without_proof},p={proof}".encode()) + b"\r\n")
    assert transport.take_output() == b"334 " + b64(f"v={signature}".encode()) + b"\r\n"
    transport.feed(b"\r\n")  # empty response to the server-final challenge
    assert transport.events[-1] == AuthResponse("SCRAM-SHA-256", b"")
    assert transport.take_output() == b"235 2.7.0 Authentication successful\r\n"
    assert transport.session.authenticated_as == "alice@example.test"


def test_wrong_password() -> None:
    transport = run(CONFIG, HELLO + b"AUTH PLAIN " + b64(b"\0alice@example.test\0nope") + b"\r\n")
    assert transport.take_output().endswith(b"535 5.7.8 Authentication credentials invalid\r\n")
    assert transport.session.authenticated_as is None and transport.session.state is State.READY


def test_client_cancels() -> None:
    transport = run(CONFIG, HELLO + b"AUTH LOGIN\r\n*\r\nNOOP\r\n")
    assert AuthCancelled("LOGIN") in transport.events
    assert transport.take_output().endswith(b"501 5.7.0 Authentication cancelled\r\n250 2.0.0 Ok\r\n")
    assert transport.session.error_count == 0


@pytest.mark.parametrize("line", [b"not base64!", b"=AAA", b"AAA=BBB", b"QQ", b"QUJD\xff"])
def test_response_that_is_not_base64(line: bytes) -> None:
    transport = run(CONFIG, HELLO + b"AUTH LOGIN\r\n" + line + b"\r\n")
    assert transport.events[-1] == ProtocolError(replies.auth_bad_base64(), "AUTH")
    assert transport.session.state is State.READY


def test_long_responses_fit_the_auth_line_limit() -> None:
    # RFC 4954 section 4: SASL lines may be far longer than command lines.
    token = b64(b"\0alice@example.test\0secret" + b" " * 6000)
    assert len(token) > CONFIG.limits.max_command_line
    transport = run(CONFIG, HELLO + b"AUTH PLAIN\r\n" + token + b"\r\n")
    assert isinstance(transport.events[-1], AuthResponse)
    too_long = run(CONFIG, HELLO + b"AUTH PLAIN\r\n" + b"A" * 13000 + b"\r\nNOOP\r\n")
    assert ProtocolError(replies.auth_line_too_long(), "AUTH") in too_long.events
    assert too_long.take_output().endswith(b"500 5.5.6 Authentication exchange line is too long\r\n250 2.0.0 Ok\r\n")


def test_lines_after_auth_are_sasl_responses_not_commands() -> None:
    transport = run(CONFIG, HELLO + b"AUTH LOGIN\r\n" + b64(b"QUIT") + b"\r\n")
    assert transport.events[-1] == AuthResponse("LOGIN", b"QUIT")
    assert not transport.closed


def test_refusals() -> None:
    assert run(make_config(), HELLO + b"AUTH PLAIN\r\n").events[-1] == ProtocolError(replies.not_implemented(), "AUTH")
    assert run(CONFIG, HELLO + b"AUTH CRAM-MD5\r\n").events[-1] == ProtocolError(
        replies.auth_mechanism_unknown(), "AUTH"
    )
    tls_only = make_config(auth_mechanisms=("PLAIN",))
    assert run(tls_only, HELLO + b"AUTH PLAIN\r\n").events[-1] == ProtocolError(
        replies.auth_encryption_required(), "AUTH"
    )
    again = run(CONFIG, HELLO + b"AUTH PLAIN " + PLAIN + b"\r\nAUTH PLAIN " + PLAIN + b"\r\n")
    assert again.events[-1] == ProtocolError(replies.already_authenticated(), "AUTH")
    before_helo = run(CONFIG, b"AUTH PLAIN " + PLAIN + b"\r\n")
    assert before_helo.events[-1] == ProtocolError(replies.bad_sequence("Send HELO/EHLO/LHLO first"), "AUTH")


def auth_question(line: bytes) -> Session:
    transport = FakeTransport(CONFIG).connect()
    session = transport.session
    session.receive_data(HELLO + line)
    session.next_event()
    session.accept()
    assert isinstance(session.next_event(), AuthStarted)
    return session


def test_auth_answers_must_fit_the_question() -> None:
    session = auth_question(b"AUTH PLAIN\r\n")
    with pytest.raises(LocalProtocolError):
        session.accept()
    with pytest.raises(LocalProtocolError):
        session.reply(Reply(235, "2.7.0", "ok"))
    with pytest.raises(LocalProtocolError):
        session.auth_failed(replies.ok())
    assert session.reply(replies.auth_temporary_failure()) == b"454 4.7.0 Temporary authentication failure\r\n"
    assert session.next_event() is NEED_DATA
    with pytest.raises(LocalProtocolError):
        session.auth_challenge(b"")


def test_auth_failed_defaults_to_535() -> None:
    session = auth_question(b"AUTH PLAIN\r\n")
    assert session.auth_failed() == b"535 5.7.8 Authentication credentials invalid\r\n"


def test_decoding_helpers() -> None:
    assert decode_initial_response("=") == b""
    assert decode_response("") == b""
    assert decode_plain(b"admin\0alice\0pw") == PlainCredentials("admin", "alice", "pw")
    assert decode_plain(b"\0alice\0pw") == PlainCredentials("", "alice", "pw")
    for bad in [b"alice\0pw", b"\0\0pw", b"\0alice\0", b"a\0b\0c\0d", b"\0\xff\0pw"]:
        with pytest.raises(ValueError):
            decode_plain(bad)
