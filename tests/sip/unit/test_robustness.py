"""Any bytes: the parser raises only ParseError, and parse -> serialize -> parse is stable."""

import os
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.sip.protocol import (
    NEED_DATA,
    FramingFailed,
    Limits,
    MessageFramed,
    ParseError,
    StreamFramer,
    error_response,
    parse_message,
)

CORPUS = [p.read_bytes() for p in sorted((Path(__file__).parent.parent / "conformance").glob("*.dat"))]
# SIP_FUZZ_EXAMPLES raises the number of examples for a longer local run.
EXAMPLES = int(os.environ.get("SIP_FUZZ_EXAMPLES", "300"))
SETTINGS = settings(deadline=None, max_examples=EXAMPLES, suppress_health_check=[HealthCheck.too_slow])

TOKENS = [
    b"INVITE sip:a@b SIP/2.0\r\n", b"SIP/2.0 200 OK\r\n", b"Via: ", b"SIP/2.0/UDP h;branch=z9hG4bK1", b"v: ",
    b"To: ", b"f: ", b"Call-ID: x", b"CSeq: 1 INVITE", b"l: ", b"Content-Length: ", b"Contact: ", b"Route: ",
    b"<sip:a@b;lr>", b'"q\\"', b";tag=1", b",", b";", b"=", b":", b"<", b">", b"@", b"%", b"%4", b"[::1]",
    b"\r\n", b"\r\n ", b"\n", b"\r", b" ", b"\t", b"\0", b"\xff", b"\xc3\xa9", b"0", b"-1", b"99999999999",
    b"Authorization: Digest ", b'realm="r", nonce=n', b"tel:+1", b"sips:", b"*",
]  # fmt: skip

messages = st.lists(st.one_of(st.sampled_from(TOKENS), st.binary(max_size=20)), max_size=60).map(b"".join)


def mutate(data: bytes, position: int, replacement: bytes) -> bytes:
    position %= len(data) + 1
    return data[:position] + replacement + data[position + len(replacement) :]


def check_stable(data: bytes) -> None:
    try:
        message = parse_message(data)
    except ParseError as error:
        reply = error_response(error, to_tag="t")
        assert reply is None or reply.startswith(b"SIP/2.0 ")
        return
    first = message.to_bytes()
    again = parse_message(first)
    assert again.to_bytes() == first
    assert again.body == message.body


@SETTINGS
@given(st.binary(max_size=600))
def test_any_bytes(data: bytes) -> None:
    check_stable(data)


@SETTINGS
@given(messages)
def test_sip_like_bytes(data: bytes) -> None:
    check_stable(data)


@SETTINGS
@given(st.sampled_from(CORPUS), st.integers(min_value=0), st.sampled_from(TOKENS))
def test_mutated_torture_messages(data: bytes, position: int, replacement: bytes) -> None:
    check_stable(mutate(data, position, replacement))


@SETTINGS
@given(st.sampled_from(CORPUS), st.integers(min_value=0, max_value=4000))
def test_truncated_torture_messages(data: bytes, length: int) -> None:
    check_stable(data[:length])


@SETTINGS
@given(st.lists(st.sampled_from(CORPUS + [b"\r\n\r\n", b"\r\n"]), max_size=6), st.lists(st.integers(0, 5000)))
def test_framer_cuts_do_not_matter(parts: list[bytes], cuts: list[int]) -> None:
    stream = b"".join(parts)
    limits = Limits()

    def run(pieces: list[bytes]) -> list[object]:
        framer = StreamFramer(limits)
        events: list[object] = []
        for piece in pieces:
            framer.receive_data(piece)
            while (event := framer.next_event()) is not NEED_DATA:
                events.append(event.error.reason if isinstance(event, FramingFailed) else event)
            assert framer.buffered_bytes <= limits.max_message_size + 65536
        return events

    whole = run([stream])
    points = sorted({c % (len(stream) + 1) for c in cuts})
    pieces = [stream[a:b] for a, b in zip([0, *points], [*points, len(stream)], strict=True)]
    split = run(pieces)
    # A lone CRLF at the very end of a read may be a pong or half a ping; apart from that, same events.
    framed = [e for e in whole if isinstance(e, MessageFramed)]
    assert framed == [e for e in split if isinstance(e, MessageFramed)]
    for event in framed:
        assert isinstance(event, MessageFramed)
        check_stable(event.data)
