"""Arbitrary input never crashes the session, and what it holds stays bounded."""

from hypothesis import given, settings
from hypothesis import strategies as st

from services.smtp.protocol import BareNewlinePolicy, SessionConfig, State
from tests.smtp.fakes import make_config, run

CONFIGS = [
    make_config(max_errors=1000),
    make_config(lmtp=True, bare_newline=BareNewlinePolicy.NORMALIZE, max_errors=1000),
    make_config(
        tls_available=True,
        auth_mechanisms=("PLAIN", "LOGIN"),
        auth_requires_tls=False,
        max_message_size=100,
        max_command_line=512,
        max_errors=1000,
    ),
]

FRAGMENTS = [
    b"EHLO client.example\r\n",
    b"LHLO client.example\r\n",
    b"MAIL FROM:<a@example.test>\r\n",
    b"MAIL FROM:<a@example.test> SMTPUTF8 SIZE=50\r\n",
    b"RCPT TO:<b@example.test>\r\n",
    b"RCPT TO:<x@elsewhere.test>\r\n",
    b"DATA\r\n",
    b".\r\n",
    b"..\r\n",
    b"BDAT 5\r\n",
    b"BDAT 3 LAST\r\n",
    b"BDAT x\r\n",
    b"RSET\r\n",
    b"NOOP\r\n",
    b"AUTH PLAIN\r\n",
    b"AUTH LOGIN\r\n",
    b"*\r\n",
    b"STARTTLS\r\n",
    b"\r\n",
    b"\n",
    b"\r",
    b".",
    b"\x00",
    b"\xff",
]


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(CONFIGS),
    st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.binary(max_size=80)), max_size=40),
)
def test_any_input_is_answered_without_crashing(config: SessionConfig, pieces: list[bytes]) -> None:
    transport = run(config, *pieces)
    session = transport.session
    limit = max(config.limits.max_command_line, config.limits.max_auth_line)
    assert session.buffered_bytes <= limit + max((len(piece) for piece in pieces), default=0)
    transport.feed(b"")  # the end of the stream always ends the session
    assert transport.closed and session.state is State.CLOSED
