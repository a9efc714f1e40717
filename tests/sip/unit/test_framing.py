"""Stream framing: Content-Length, keep-alives (RFC 5626 section 4.4.1), broken streams."""

from services.sip.protocol import (
    NEED_DATA,
    PONG,
    FramingFailed,
    KeepAlivePing,
    KeepAlivePong,
    Limits,
    MessageFramed,
    StreamFramer,
    error_response,
    parse_message,
)
from tests.sip.messages import request

MESSAGE = request("OPTIONS").to_bytes()
WITH_BODY = MESSAGE.replace(b"Content-Length: 0", b"l: 5") + b"hello"


def drain(framer: StreamFramer) -> list[object]:
    events = []
    while (event := framer.next_event()) is not NEED_DATA:
        events.append(event)
    return events


def test_messages_back_to_back_and_split_anywhere() -> None:
    stream = MESSAGE + WITH_BODY + MESSAGE
    for cut in range(0, len(stream), 7):
        framer = StreamFramer()
        events = []
        for piece in (stream[:cut], stream[cut:]):
            framer.receive_data(piece)
            events += drain(framer)
        assert events == [MessageFramed(MESSAGE), MessageFramed(WITH_BODY), MessageFramed(MESSAGE)]
        assert framer.buffered_bytes == 0
    assert parse_message(WITH_BODY).body == b"hello"


def test_keep_alive_ping_and_pong() -> None:
    framer = StreamFramer()
    framer.receive_data(b"\r\n\r\n" + MESSAGE + b"\r\n" + MESSAGE)
    assert drain(framer) == [KeepAlivePing(), MessageFramed(MESSAGE), KeepAlivePong(), MessageFramed(MESSAGE)]
    assert PONG == b"\r\n"


def test_ping_split_across_reads() -> None:
    framer = StreamFramer()
    framer.receive_data(b"\r\n\r")
    assert drain(framer) == []
    framer.receive_data(b"\n")
    assert drain(framer) == [KeepAlivePing()]
    framer.receive_data(b"\r\n")
    assert drain(framer) == []  # a pong, or half a ping?
    framer.receive_data(b"OPTIONS")
    assert drain(framer) == [KeepAlivePong()]
    closing = StreamFramer()
    closing.receive_data(b"\r\n")
    closing.receive_data(b"")
    assert drain(closing) == [KeepAlivePong()]


def test_missing_content_length_means_no_body() -> None:
    bare = MESSAGE.replace(b"Content-Length: 0\r\n", b"")
    framer = StreamFramer()
    framer.receive_data(bare + MESSAGE)
    assert drain(framer) == [MessageFramed(bare), MessageFramed(MESSAGE)]


def test_broken_content_length_closes_the_stream_with_a_reply() -> None:
    for bad in (b"Content-Length: -1", b"Content-Length: x", b"Content-Length: 99999999999"):
        framer = StreamFramer()
        framer.receive_data(MESSAGE.replace(b"Content-Length: 0", bad) + MESSAGE)
        (event,) = drain(framer)
        assert isinstance(event, FramingFailed) and event.error.close_connection
        reply = error_response(event.error, to_tag="t")
        assert reply is not None and reply.startswith(b"SIP/2.0 400 ")
        framer.receive_data(MESSAGE)
        assert drain(framer) == [] and framer.buffered_bytes == 0


def test_oversize_message_and_oversize_head() -> None:
    limits = Limits(max_message_size=2000)
    framer = StreamFramer(limits)
    framer.receive_data(MESSAGE.replace(b"Content-Length: 0", b"Content-Length: 5000"))
    (event,) = drain(framer)
    assert isinstance(event, FramingFailed) and event.error.status == 513 and event.error.can_reply
    endless = StreamFramer(limits)
    endless.receive_data(b"OPTIONS sip:a@b SIP/2.0\r\nX: " + b"y" * 2500)
    (event,) = drain(endless)
    assert isinstance(event, FramingFailed) and event.error.status == 513


def test_byte_by_byte() -> None:
    framer = StreamFramer()
    events = []
    for byte in b"\r\n\r\n" + WITH_BODY + b"\r\n" + MESSAGE:
        framer.receive_data(bytes([byte]))
        events += drain(framer)
    assert events == [KeepAlivePing(), MessageFramed(WITH_BODY), KeepAlivePong(), MessageFramed(MESSAGE)]
