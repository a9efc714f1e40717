"""BDAT/CHUNKING (RFC 3030): exact chunk sizes, consumption on refusal, limits, any read split."""

from services.smtp.protocol import (
    DataStarted,
    MessageAborted,
    MessageComplete,
    MessageDataChunk,
    ProtocolError,
    ResetReceived,
    SessionTerminated,
    State,
    replies,
)
from tests.smtp.fakes import make_config, merged, run

ENVELOPE = b"EHLO client.example.test\r\nMAIL FROM:<alice@example.test>\r\nRCPT TO:<bob@example.test>\r\n"
BODY = b"Subject: x\r\n\r\nA\r\n.\r\nQUIT\r\n\x00\xff binary"


def test_chunk_is_exactly_its_size_and_terminator_inside_is_data() -> None:
    transport = run(make_config(), ENVELOPE + b"BDAT %d\r\n" % len(BODY) + BODY + b"BDAT 0 LAST\r\n")
    events = merged(transport.events)
    assert events[-3:] == [DataStarted("BDAT"), MessageDataChunk(BODY), events[-1]]
    complete = events[-1]
    assert isinstance(complete, MessageComplete) and complete.size == len(BODY) and complete.via == "BDAT"
    assert transport.policy.delivered[0].content == BODY
    assert transport.take_output().endswith(b"250 2.0.0 %d octets received\r\n250 2.0.0 Ok: queued\r\n" % len(BODY))


def test_split_at_every_position_gives_identical_events() -> None:
    transcript = ENVELOPE + b"BDAT 9\r\n.\r\n\r\n.\r\nxBDAT 4 LAST\r\nabcdNOOP\r\n"
    whole = run(make_config(), transcript)
    expected = (merged(whole.events), whole.take_output())
    for cut in range(len(transcript) + 1):
        split = run(make_config(), transcript[:cut], transcript[cut:])
        assert (merged(split.events), split.take_output()) == expected, cut
    byte_by_byte = run(make_config(), *(bytes([b]) for b in transcript))
    assert (merged(byte_by_byte.events), byte_by_byte.take_output()) == expected


def test_empty_last_chunk_ends_an_empty_message() -> None:
    transport = run(make_config(), ENVELOPE + b"BDAT 0 LAST\r\n")
    assert transport.events[-2:] == [DataStarted("BDAT"), transport.events[-1]]
    assert isinstance(transport.events[-1], MessageComplete) and transport.events[-1].size == 0


def test_refused_chunk_is_consumed_not_executed() -> None:
    transport = run(make_config(), b"EHLO c.example\r\nBDAT 12\r\nQUIT\r\nRSET\r\nNOOP\r\n")
    assert transport.events[-1] == ProtocolError(replies.bad_sequence("Need MAIL and RCPT first"), "BDAT")
    assert not any(isinstance(event, ResetReceived | DataStarted) for event in transport.events)
    assert transport.take_output().endswith(b"503 5.5.1 Need MAIL and RCPT first\r\n250 2.0.0 Ok\r\n")
    assert not transport.closed


def test_chunk_without_valid_recipient_is_refused_with_554() -> None:
    transport = run(make_config(), b"EHLO c\r\nMAIL FROM:<a@example.test>\r\nBDAT 3 LAST\r\nabc")
    assert transport.events[-1] == ProtocolError(replies.no_valid_recipients(), "BDAT")
    assert transport.session.state is State.HAVE_SENDER


def test_malformed_bdat_closes_the_connection() -> None:
    transport = run(make_config(), ENVELOPE + b"BDAT ten\r\nabcdefghij")
    reply = replies.invalid_arguments("Syntax: BDAT chunk-size [LAST]")
    assert transport.events[-1] == SessionTerminated(reply)
    assert transport.take_output().endswith(reply.to_bytes())


def test_too_big_fails_the_chunk_and_later_chunks_are_discarded() -> None:
    transport = run(
        make_config(max_message_size=10),
        ENVELOPE + b"BDAT 8\r\n12345678BDAT 8\r\n12345678BDAT 3 LAST\r\nENDNOOP\r\n",
    )
    aborted = [event for event in transport.events if isinstance(event, MessageAborted)]
    assert aborted == [MessageAborted(replies.message_too_big())]
    # content is handed out up to the limit exactly, then nothing more
    assert b"".join(e.data for e in transport.events if isinstance(e, MessageDataChunk)) == b"1234567812"
    assert transport.take_output().endswith(
        b"250 2.0.0 8 octets received\r\n552 5.3.4 Message size exceeds fixed maximum message size\r\n"
        b"503 5.5.1 Need MAIL and RCPT first\r\n250 2.0.0 Ok\r\n"
    )


def test_huge_chunk_is_streamed_with_bounded_buffer() -> None:
    transport = run(make_config(max_message_size=1000), ENVELOPE + b"BDAT 10000000000 LAST\r\n")
    for _ in range(20):
        transport.feed(b"z" * 65536)
        assert transport.session.buffered_bytes == 0
    assert transport.session.state is State.RECEIVING_CHUNK


def test_data_after_bdat_is_refused_and_rset_clears() -> None:
    transport = run(make_config(), ENVELOPE + b"BDAT 2\r\nabDATA\r\nRSET\r\nRCPT TO:<bob@example.test>\r\n")
    assert transport.take_output().endswith(
        b"250 2.0.0 2 octets received\r\n503 5.5.1 DATA not allowed after BDAT\r\n250 2.0.0 Ok\r\n"
        b"503 5.5.1 Need MAIL before RCPT\r\n"
    )
    assert ResetReceived() in transport.events


def test_bdat_after_last_is_refused() -> None:
    transport = run(make_config(), ENVELOPE + b"BDAT 1 LAST\r\naBDAT 1\r\nb")
    assert transport.events[-1] == ProtocolError(replies.bad_sequence("Need MAIL and RCPT first"), "BDAT")
