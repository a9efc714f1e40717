"""DATA in the session (RFC 5321 section 4.1.1.4): streaming, limits, bare newlines, smuggling."""

from services.smtp.protocol import (
    BareNewlinePolicy,
    DataStarted,
    MailFromReceived,
    MessageAborted,
    MessageComplete,
    MessageDataChunk,
    ProtocolError,
    SessionTerminated,
    State,
    replies,
)
from tests.smtp.fakes import FakeTransport, make_config, run

OPEN = b"EHLO client.example.test\r\nMAIL FROM:<alice@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n"


def chunks(transport: FakeTransport) -> list[bytes]:
    return [event.data for event in transport.events if isinstance(event, MessageDataChunk)]


def test_content_streams_out_one_chunk_per_read() -> None:
    transport = run(make_config(), OPEN, b"Subject: hi\r\n", b"\r\nbody line\r\n", b"..dot\r\n.\r\n")
    assert chunks(transport) == [b"Subject: hi\r\n", b"\r\nbody line\r\n", b".dot\r\n"]
    complete = transport.events[-1]
    assert isinstance(complete, MessageComplete)
    assert complete.size == len(b"Subject: hi\r\n\r\nbody line\r\n.dot\r\n") and complete.via == "DATA"
    assert transport.policy.delivered[0].content == b"Subject: hi\r\n\r\nbody line\r\n.dot\r\n"
    assert transport.take_output().endswith(b"354 End data with <CR><LF>.<CR><LF>\r\n250 2.0.0 Ok: queued\r\n")
    assert transport.session.state is State.READY


def test_data_started_comes_with_354() -> None:
    transport = run(make_config(), OPEN)
    assert transport.events[-1] == DataStarted("DATA")
    assert transport.session.state is State.RECEIVING_DATA


def test_data_takes_no_argument() -> None:
    transport = run(make_config(), OPEN.replace(b"DATA\r\n", b"DATA now\r\n"))
    assert transport.events[-1] == ProtocolError(
        replies.invalid_arguments("Syntax: DATA (no parameters allowed)"), "DATA"
    )


def test_oversized_message_is_aborted_at_once_and_refused_after_its_end() -> None:
    transport = run(make_config(max_message_size=20), OPEN)
    transport.take_output()
    transport.feed(b"0123456789\r\n")
    transport.feed(b"0123456789\r\n")  # 24 octets now
    assert transport.events[-1] == MessageAborted(replies.message_too_big())
    transport.feed(b"more and more\r\n" * 100)
    assert transport.take_output() == b""  # nothing until the end of data
    assert transport.session.buffered_bytes == 0  # read and dropped
    transport.feed(b".\r\nNOOP\r\n")
    assert chunks(transport) == [b"0123456789\r\n", b"01234567"]  # cut at the limit exactly
    assert not any(isinstance(event, MessageComplete) for event in transport.events)
    assert transport.take_output() == b"552 5.3.4 Message size exceeds fixed maximum message size\r\n250 2.0.0 Ok\r\n"


def test_long_text_line_fails_the_message_after_its_end() -> None:
    transport = run(make_config(), OPEN, b"x" * 999 + b"\r\nmore\r\n")
    assert transport.events[-1] == MessageAborted(replies.line_too_long())
    transport.take_output()
    transport.feed(b".\r\n")
    assert transport.take_output() == b"500 5.5.2 Line too long\r\n"
    assert transport.session.state is State.READY


def test_long_lines_allowed_when_the_check_is_off() -> None:
    transport = run(make_config(max_text_line=None), OPEN, b"x" * 5000 + b"\r\n.\r\n")
    assert isinstance(transport.events[-1], MessageComplete)


SMUGGLE = (
    b"Subject: a\r\n\r\nfirst\n.\nMAIL FROM:<admin@example.test>\r\nRCPT TO:<bob@example.test>\r\n"
    b"DATA\r\n\r\nsecond\r\n.\r\n"
)


def test_bare_lf_rejects_and_closes() -> None:
    transport = run(make_config(), OPEN)
    transport.take_output()
    transport.feed(SMUGGLE)
    reply = replies.bare_newline()
    assert transport.events[-2:] == [MessageAborted(reply), SessionTerminated(reply)]
    assert transport.take_output() == reply.to_bytes()
    assert transport.session.state is State.CLOSED and transport.closed
    assert sum(isinstance(event, MailFromReceived) for event in transport.events) == 1
    assert not transport.policy.delivered


def test_bare_lf_normalised_never_ends_the_message() -> None:
    transport = run(make_config(bare_newline=BareNewlinePolicy.NORMALIZE), OPEN, SMUGGLE)
    assert sum(isinstance(event, MailFromReceived) for event in transport.events) == 1
    assert sum(isinstance(event, MessageComplete) for event in transport.events) == 1
    assert transport.policy.delivered[0].content == (
        b"Subject: a\r\n\r\nfirst\r\n.\r\nMAIL FROM:<admin@example.test>\r\nRCPT TO:<bob@example.test>\r\n"
        b"DATA\r\n\r\nsecond\r\n"
    )
    assert transport.take_output().endswith(b"354 End data with <CR><LF>.<CR><LF>\r\n250 2.0.0 Ok: queued\r\n")


def test_commands_after_the_end_wait_for_the_final_reply() -> None:
    transport = run(make_config(), OPEN + b"hi\r\n.\r\nMAIL FROM:<a@example.test>\r\n")
    complete = [i for i, event in enumerate(transport.events) if isinstance(event, MessageComplete)]
    mails = [i for i, event in enumerate(transport.events) if isinstance(event, MailFromReceived)]
    assert complete and mails[-1] > complete[0]
    assert transport.take_output().endswith(b"250 2.0.0 Ok: queued\r\n250 2.1.0 Ok\r\n")


def test_final_reply_may_refuse() -> None:
    transport = run(make_config(), OPEN)
    session = transport.session
    session.receive_data(b"hi\r\n.\r\n")
    while not isinstance(session.next_event(), MessageComplete):
        pass
    assert session.reply(replies.Reply(554, "5.7.1", "Spam")) == b"554 5.7.1 Spam\r\n"
    assert session.state is State.READY
