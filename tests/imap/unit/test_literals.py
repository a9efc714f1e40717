"""Literal framing and its limits: continuation requests, LITERAL+/LITERAL-, literal8, recovery."""

from services.imap.protocol import AppendAborted, AppendDataStarted, CommandReceived, Login, SessionClosed
from tests.imap.fakes import Exchange, logged_in, make_config

CONTINUE = b"+ Ready for literal data\r\n"


def test_synchronising_literal_gets_a_continuation_request() -> None:
    exchange = Exchange()
    assert exchange.send(b"a1 LOGIN {5}\r\n") == CONTINUE
    out = exchange.send(b"alice {6}\r\n")
    assert out == CONTINUE
    assert exchange.send(b"secret\r\n").startswith(b"a1 OK [CAPABILITY ")
    assert exchange.commands() == [Login("a1", "alice", "secret")]


def test_non_synchronising_literal_needs_no_round_trip() -> None:
    exchange = Exchange()
    out = exchange.send(b"a1 LOGIN {5+}\r\nalice {6+}\r\nsecret\r\n")
    assert out.startswith(b"a1 OK [CAPABILITY ")


def test_empty_literal() -> None:
    exchange = logged_in()
    assert exchange.send(b"a2 CREATE {0+}\r\n\r\n") == b"a2 OK CREATE completed\r\n"
    assert exchange.commands()[-1].mailbox == ""


def test_huge_synchronising_literal_never_sent_is_refused_without_continuation() -> None:
    exchange = Exchange()
    out = exchange.send(b"a1 LOGIN {99999999999}\r\n")
    assert out == b"a1 BAD [TOOBIG] Literal too large\r\n"
    assert exchange.session.buffered_bytes == 0
    # The client did not send the octets; the next line is a new command.
    assert exchange.send(b"a2 NOOP\r\n") == b"a2 OK NOOP completed\r\n"


def test_number_too_long_to_be_a_literal_is_a_syntax_error() -> None:
    exchange = Exchange()
    out = exchange.send(b"a1 LOGIN {999999999999999999999}\r\n")
    assert out == b"a1 BAD Expected an atom or string\r\n"


def test_message_over_appendlimit_gets_no_toobig_and_no_continuation() -> None:
    exchange = logged_in(make_config(append_limit=1000))
    assert exchange.send(b"a2 APPEND INBOX {1001}\r\n") == b"a2 NO [TOOBIG] Message is larger than APPENDLIMIT\r\n"
    assert exchange.send(b"a3 APPEND INBOX {1000}\r\n") == CONTINUE
    out = exchange.send(b"x" * 1000 + b"\r\n")
    assert out == b"a3 OK [APPENDUID 38505 3955] APPEND completed\r\n"
    assert bytes(exchange.appended[0]) == b"x" * 1000


def test_oversize_non_synchronising_literal_is_refused_and_the_connection_closed() -> None:
    exchange = logged_in(make_config(append_limit=1000))
    out = exchange.send(b"a2 APPEND INBOX {5000+}\r\n" + b"x" * 100)
    assert out == (
        b"a2 NO [TOOBIG] Message is larger than APPENDLIMIT\r\n* BYE Cannot resynchronise after a refused literal\r\n"
    )
    assert isinstance(exchange.events[-1], SessionClosed)
    assert exchange.send(b"x" * 4900 + b"\r\na3 NOOP\r\n") == b""


def test_literal_minus_caps_non_synchronising_literals_at_4096() -> None:
    exchange = logged_in(make_config(literal_minus=True))
    assert b" LITERAL- " in exchange.send(b"c CAPABILITY\r\n")
    out = exchange.send(b"a2 APPEND INBOX {4096+}\r\n" + b"x" * 4096 + b"\r\n")
    assert out == b"a2 OK [APPENDUID 38505 3955] APPEND completed\r\n"
    out = exchange.send(b"a3 APPEND INBOX {4097+}\r\n")
    assert out == (
        b"a3 BAD [TOOBIG] Non-synchronizing literal over 4096 octets (LITERAL-)\r\n"
        b"* BYE Cannot resynchronise after a refused literal\r\n"
    )
    # The synchronising form of the same size is fine.
    exchange = logged_in(make_config(literal_minus=True))
    assert exchange.send(b"a3 APPEND INBOX {4097}\r\n") == CONTINUE


def test_literal_for_a_command_refused_in_this_state_gets_no_continuation() -> None:
    exchange = Exchange()
    out = exchange.send(b"a1 APPEND INBOX {100}\r\n")
    assert out == b"a1 BAD APPEND needs authentication first\r\n"
    assert exchange.send(b"a2 NOOP\r\n") == b"a2 OK NOOP completed\r\n"
    assert not any(isinstance(e, AppendDataStarted) for e in exchange.events)


def test_non_synchronising_literal_of_a_refused_command_is_read_and_dropped() -> None:
    exchange = Exchange()
    out = exchange.send(b"a1 APPEND INBOX {10+}\r\n0123456789\r\na2 NOOP\r\n")
    assert out == b"a1 BAD APPEND needs authentication first\r\na2 OK NOOP completed\r\n"
    assert exchange.appended == {}


def test_unknown_command_with_a_literal_gets_no_continuation() -> None:
    exchange = Exchange()
    assert exchange.send(b"a1 FROB {5}\r\n") == b"a1 BAD Unknown command FROB\r\n"


def test_too_many_literals() -> None:
    exchange = Exchange(make_config(max_literals=2))
    out = exchange.send(b"a1 LOGIN {1+}\r\na {1+}\r\nb\r\n")
    assert out.startswith(b"a1 NO [AUTHENTICATIONFAILED]")
    out = exchange.send(b"a2 ID ({1}\r\n")
    assert out == CONTINUE
    out = exchange.send(b"a {1}\r\n")
    assert out == CONTINUE
    assert exchange.send(b"b {1}\r\n") == b"a2 BAD [LIMIT] Too many literals in one command\r\n"


def test_literals_in_ordinary_commands_have_a_small_cap() -> None:
    exchange = Exchange(make_config(max_literal=1024))
    assert exchange.send(b"a1 LOGIN {1025}\r\n") == b"a1 BAD [TOOBIG] Literal too large\r\n"
    assert exchange.send(b"a2 LOGIN {1024}\r\n") == CONTINUE


def test_literal8_is_only_for_message_data() -> None:
    exchange = Exchange()
    out = exchange.send(b"a1 LOGIN ~{5+}\r\nalice x\r\n")
    assert out == b"a1 BAD literal8 is not valid here\r\n"
    out = exchange.send(b"a2 LOGIN {3+}\r\na\0b x\r\n")
    assert out == b"a2 BAD NUL in literal\r\n"


def test_append_binary_literal8_streams_nul() -> None:
    exchange = logged_in()
    out = exchange.send(b"a2 APPEND INBOX ~{4+}\r\na\0\r\n\r\n")
    assert out == b"a2 OK [APPENDUID 38505 3955] APPEND completed\r\n"
    started = [e for e in exchange.events if isinstance(e, AppendDataStarted)]
    assert started == [AppendDataStarted("a2", 0, 4, True)]
    assert bytes(exchange.appended[0]) == b"a\0\r\n"


def test_append_data_is_streamed_in_chunks_with_bounded_memory() -> None:
    exchange = logged_in()
    assert exchange.send(b"a2 APPEND INBOX (\\Seen) {300000}\r\n") == CONTINUE
    peak = 0
    for _ in range(30):
        exchange.send(b"y" * 10000)
        peak = max(peak, exchange.session.buffered_bytes)
    assert peak < 1000
    assert exchange.send(b"\r\n") == b"a2 OK [APPENDUID 38505 3955] APPEND completed\r\n"
    assert len(exchange.appended[0]) == 300000
    (command,) = [e.command for e in exchange.events if isinstance(e, CommandReceived)][-1:]
    assert command.messages[0].flags == ("\\Seen",) and command.messages[0].size == 300000


def test_multiappend_streams_each_message() -> None:
    exchange = logged_in()
    out = exchange.send(b"a2 APPEND INBOX {3+}\r\none (\\Flagged) {3+}\r\ntwo\r\n")
    assert out == b"a2 OK [APPENDUID 38505 3955] APPEND completed\r\n"
    assert {i: bytes(d) for i, d in exchange.appended.items()} == {0: b"one", 1: b"two"}
    assert len(exchange.commands()[-1].messages) == 2


def test_append_syntax_error_after_the_data_aborts_it() -> None:
    exchange = logged_in()
    out = exchange.send(b"a2 APPEND INBOX {3+}\r\none garbage\r\n")
    assert out == b"a2 BAD Expected message data as a literal\r\n"
    assert exchange.aborted == 1
    assert any(isinstance(e, AppendAborted) for e in exchange.events)


def test_mailbox_name_as_a_literal_is_not_message_data() -> None:
    exchange = logged_in()
    out = exchange.send(b"a2 APPEND {5}\r\n")
    assert out == CONTINUE
    out = exchange.send(b"Sent! {2}\r\n")
    assert out == CONTINUE
    exchange.send(b"hi\r\n")
    assert exchange.commands()[-1].mailbox == "Sent!"
    assert bytes(exchange.appended[0]) == b"hi"


def test_append_mistakes_before_the_message_are_answered_before_the_upload() -> None:
    exchange = logged_in()
    assert exchange.send(b"a2 APPEND INBOX (\\Seen {100}\r\n") == b"a2 BAD Expected a flag\r\n"
    out = exchange.send(b'a3 APPEND "Entw\xc3\xbcrfe" {100}\r\n')
    assert out == b"a3 BAD Mailbox name is not modified UTF-7 (8-bit characters need ENABLE UTF8=ACCEPT)\r\n"
    out = exchange.send(b'a4 APPEND INBOX "31-Feb-2000 00:00:00 +0000" {100}\r\n')
    assert out == b"a4 BAD Invalid date-time\r\n"
    assert exchange.appended == {}
    # With a non-synchronising literal the octets are on their way: read, dropped, refused.
    out = exchange.send(b"a5 APPEND INBOX (\\Seen {3+}\r\nabc\r\na6 NOOP\r\n")
    assert out == b"a5 BAD Expected a flag\r\na6 OK NOOP completed\r\n"
    assert exchange.appended == {}


def test_multiappend_with_a_bad_second_message_drops_the_first() -> None:
    exchange = logged_in()
    out = exchange.send(b"a2 APPEND INBOX {3+}\r\none (\\Flagged {3+}\r\ntwo\r\n")
    assert out == b"a2 BAD Expected a flag\r\n"
    assert bytes(exchange.appended[0]) == b"one" and 1 not in exchange.appended
    assert exchange.aborted == 1


def test_oversize_non_synchronising_literal_in_an_ordinary_command_closes() -> None:
    exchange = Exchange(make_config(max_literal=1024))
    out = exchange.send(b"a1 LOGIN {1025+}\r\n")
    assert out == b"a1 BAD [TOOBIG] Literal too large\r\n* BYE Cannot resynchronise after a refused literal\r\n"


def test_literals_held_in_memory_share_one_budget() -> None:
    exchange = Exchange(make_config(max_line=8192, max_literal=8192, max_command=16384))
    out = exchange.send(b"a1 LOGIN {8000+}\r\n" + b"u" * 8000 + b" {8000}\r\n")
    assert out == CONTINUE
    exchange = Exchange(make_config(max_line=8192, max_literal=8192, max_command=16384))
    out = exchange.send(b"a1 ID ({8000+}\r\n" + b"u" * 8000 + b" {8000+}\r\n" + b"v" * 8000 + b" {500}\r\n")
    assert out == b"a1 BAD [TOOBIG] Literal too large\r\n"


def test_a_command_refused_in_this_state_is_refused_for_that_whatever_its_literal_size() -> None:
    exchange = Exchange()
    assert exchange.send(b"a1 APPEND INBOX {999999999999}\r\n") == b"a1 BAD APPEND needs authentication first\r\n"


def test_append_utf8_data_item_rfc6855() -> None:
    exchange = logged_in()
    exchange.send(b"e ENABLE UTF8=ACCEPT\r\n")
    assert exchange.send(b"a2 APPEND INBOX (\\Seen) UTF8 (~{5}\r\n") == CONTINUE
    assert exchange.send(b"h\xc3\xa9!!)\r\n") == b"a2 OK [APPENDUID 38505 3955] APPEND completed\r\n"
    (message,) = exchange.commands()[-1].messages
    assert message.utf8 and message.binary and bytes(exchange.appended[0]) == b"h\xc3\xa9!!"
    assert exchange.send(b"a3 APPEND INBOX UTF8 ({5}\r\n") == b"a3 BAD UTF8 message data must be a literal8 (~{n})\r\n"


def test_append_utf8_data_item_needs_utf8_mode() -> None:
    exchange = logged_in()
    assert exchange.send(b"a2 APPEND INBOX UTF8 (~{5}\r\n") == b"a2 BAD UTF8 message data needs ENABLE UTF8=ACCEPT\r\n"
