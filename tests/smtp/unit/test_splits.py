"""However the bytes are cut into reads, the session sees the same conversation.

Whole transcripts (pipelining, DATA with stuffing and smuggling attempts, BDAT
with terminators inside chunks, AUTH, STARTTLS-free errors, overlong lines)
are fed at once, byte by byte, and in random pieces; the events (with content
chunks joined) and the reply bytes must be identical.
"""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.smtp.protocol import BareNewlinePolicy, SessionConfig
from tests.smtp.fakes import make_config, merged, run

AUTH = make_config(auth_mechanisms=("PLAIN", "LOGIN"), auth_requires_tls=False)
NORMALIZE = make_config(bare_newline=BareNewlinePolicy.NORMALIZE)
SMALL = make_config(max_message_size=40, max_command_line=512, max_errors=5)
LMTP = make_config(lmtp=True)

TRANSCRIPTS: list[tuple[str, SessionConfig, bytes]] = [
    (
        "pipelined data with stuffing",
        make_config(),
        b"EHLO c.example\r\nMAIL FROM:<a@example.test> SIZE=20\r\nRCPT TO:<b@example.test>\r\n"
        b"RCPT TO:<x@elsewhere.test>\r\nDATA\r\nSubject: s\r\n\r\n..dot\r\n...\r\n.\r\nRSET\r\nQUIT\r\n",
    ),
    (
        "smuggling attempts, normalised",
        NORMALIZE,
        b"HELO c\r\nMAIL FROM:<a@example.test>\r\nRCPT TO:<b@example.test>\r\nDATA\r\n"
        b"x\n.\nMAIL FROM:<e@example.test>\r\ny\r.\rz\r\n.\nw\n.\r\nv\r\n.\r\nNOOP\r\n",
    ),
    (
        "smuggling attempt, rejected",
        make_config(),
        b"HELO c\r\nMAIL FROM:<a@example.test>\r\nRCPT TO:<b@example.test>\r\nDATA\r\nx\r\n.\nMAIL FROM:<e@x>\r\n",
    ),
    (
        "bdat with terminators inside",
        make_config(),
        b"EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<b@example.test>\r\n"
        b"BDAT 10\r\n\r\n.\r\nQUIT\r\nBDAT 3 LAST\r\n.\r\nNOOP\r\n",
    ),
    (
        "refused bdat and oversized data",
        SMALL,
        b"EHLO c\r\nBDAT 6\r\nQUIT\r\nMAIL FROM:<a@example.test>\r\nRCPT TO:<b@example.test>\r\nDATA\r\n"
        + b"0123456789\r\n" * 6
        + b".\r\nNOOP "
        + b"z" * 600
        + b"\r\nFOO\r\nQUIT\r\n",
    ),
    (
        "auth steps",
        AUTH,
        b"EHLO c\r\nAUTH LOGIN\r\nYWxpY2VAZXhhbXBsZS50ZXN0\r\nc2VjcmV0\r\nAUTH PLAIN\r\n*\r\n"
        b"MAIL FROM:<a@example.test>\r\n",
    ),
    (
        "lmtp",
        LMTP,
        b"LHLO c\r\nMAIL FROM:<a@example.test>\r\nRCPT TO:<b@example.test>\r\nRCPT TO:<full@example.test>\r\n"
        b"DATA\r\nhi\r\n.\r\nQUIT\r\n",
    ),
    ("bare newline in a command", make_config(), b"EHLO c\r\nNOOP\r\nRSET\nMAIL FROM:<a@example.test>\r\n"),
    (
        "long text line then too big",
        make_config(max_message_size=3000),
        b"HELO c\r\nMAIL FROM:<a@example.test>\r\nRCPT TO:<b@example.test>\r\nDATA\r\nshort\r\n"
        + b"y" * 1500
        + b"\r\n"
        + b"z" * 2000
        + b"\r\n.\r\nNOOP\r\n",
    ),
]


def observe(config: SessionConfig, pieces: list[bytes]) -> tuple[list[object], bytes]:
    transport = run(config, *pieces)
    return list(merged(transport.events)), transport.take_output()


@pytest.mark.parametrize(("name", "config", "transcript"), TRANSCRIPTS, ids=[t[0] for t in TRANSCRIPTS])
def test_byte_by_byte_equals_whole(name: str, config: SessionConfig, transcript: bytes) -> None:
    whole = observe(config, [transcript])
    assert whole[1]  # something was said
    assert observe(config, [bytes([b]) for b in transcript]) == whole


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_random_splits_equal_whole(data: st.DataObject) -> None:
    name, config, transcript = data.draw(st.sampled_from(TRANSCRIPTS), label="transcript")
    cuts = data.draw(st.lists(st.integers(min_value=0, max_value=len(transcript)), max_size=12), label="cuts")
    points = sorted(set(cuts))
    pieces = [transcript[a:b] for a, b in zip([0, *points], [*points, len(transcript)], strict=True)]
    assert observe(config, pieces) == observe(config, [transcript])
