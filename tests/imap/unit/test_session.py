"""Session behaviour: greeting, capabilities, STARTTLS, AUTHENTICATE, ENABLE, IDLE, COMPRESS, pipelining."""

import base64

import pytest

from services.imap.protocol import (
    AuthCancelled,
    CompressionRequested,
    ConnectionLost,
    ExtensionsEnabled,
    GreetingNeeded,
    IdleDone,
    LocalProtocolError,
    LogoutReceived,
    Session,
    StartTlsRequested,
    responses,
)
from tests.imap.fakes import Exchange, logged_in, make_config, selected

PLAIN = base64.b64encode(b"\0alice\0secret")


def caps(out: bytes) -> list[str]:
    line = out.split(b"\r\n")[0].decode()
    return line.split("] ")[0].split("[CAPABILITY ")[1].split() if "[CAPABILITY" in line else line.split()[2:]


def test_greeting_and_capabilities_before_tls() -> None:
    exchange = Exchange(make_config(tls_available=True, tls_active=False))
    assert exchange.greeting == (
        b"* OK [CAPABILITY IMAP4rev1 IMAP4rev2 LITERAL+ SASL-IR ID ENABLE IDLE STARTTLS LOGINDISABLED] "
        b"imap.example.test IMAP4rev2 server ready\r\n"
    )


def test_capabilities_after_tls_and_after_login() -> None:
    exchange = Exchange()
    assert caps(exchange.greeting) == [
        "IMAP4rev1", "IMAP4rev2", "LITERAL+", "SASL-IR", "ID", "ENABLE", "IDLE", "AUTH=PLAIN", "AUTH=SCRAM-SHA-256"
    ]  # fmt: skip
    out = exchange.send(b"a LOGIN alice secret\r\n")
    after = caps(out)
    for name in (
        "NAMESPACE", "UIDPLUS", "MOVE", "SPECIAL-USE", "LIST-EXTENDED", "LIST-STATUS", "CONDSTORE", "QRESYNC",
        "ESEARCH", "SORT", "THREAD=REFERENCES", "THREAD=ORDEREDSUBJECT", "QUOTA", "ACL", "CHILDREN", "UNSELECT",
        "UTF8=ACCEPT", "COMPRESS=DEFLATE", "APPENDLIMIT=52428800", "IDLE", "ENABLE",
    ):  # fmt: skip
        assert name in after
    assert "STARTTLS" not in after and "LOGINDISABLED" not in after and "AUTH=PLAIN" not in after
    assert caps(exchange.send(b"c CAPABILITY\r\n")) == after


def test_disabled_capabilities_are_not_advertised() -> None:
    exchange = logged_in(make_config(disabled_capabilities=frozenset({"THREAD=ORDEREDSUBJECT"})))
    assert "THREAD=ORDEREDSUBJECT" not in caps(exchange.send(b"c CAPABILITY\r\n"))


def test_preauth_greeting() -> None:
    session = Session(make_config())
    assert isinstance(session.next_event(), GreetingNeeded)
    out = session.preauthenticated("alice@example.test")
    assert out.startswith(b"* PREAUTH [CAPABILITY IMAP4rev1 ")
    assert out.endswith(b"] imap.example.test logged in as alice@example.test\r\n")
    assert session.state.value == "authenticated"


def test_refused_greeting() -> None:
    session = Session(make_config())
    session.next_event()
    assert session.bye("Too many connections") == b"* BYE Too many connections\r\n"


def test_starttls_discards_pipelined_plaintext() -> None:
    exchange = Exchange(make_config(tls_available=True, tls_active=False))
    out = exchange.send(b"a STARTTLS\r\nb LOGIN alice secret\r\n")
    assert out == b"a OK Begin TLS negotiation now\r\n"
    assert isinstance(exchange.events[-1], StartTlsRequested)
    assert exchange.send(b"c NOOP\r\n") == b""
    assert exchange.session.start_tls() == len(b"b LOGIN alice secret\r\nc NOOP\r\n")
    assert exchange.commands() == []
    assert caps(exchange.send(b"d CAPABILITY\r\n"))[-2:] == ["AUTH=PLAIN", "AUTH=SCRAM-SHA-256"]
    assert exchange.send(b"e STARTTLS\r\n") == b"e BAD TLS is already active\r\n"


def test_starttls_needs_a_certificate() -> None:
    exchange = Exchange(make_config(tls_active=False))
    assert exchange.send(b"a STARTTLS\r\n") == b"a BAD STARTTLS is not available\r\n"


def test_start_tls_out_of_turn_is_a_local_error() -> None:
    with pytest.raises(LocalProtocolError):
        Exchange().session.start_tls()


def test_login_refused_before_tls() -> None:
    exchange = Exchange(make_config(tls_available=True, tls_active=False))
    assert exchange.send(b"a LOGIN alice secret\r\n") == b"a NO [PRIVACYREQUIRED] Authentication needs TLS first\r\n"
    assert exchange.send(b"b AUTHENTICATE PLAIN\r\n") == b"b NO [PRIVACYREQUIRED] Authentication needs TLS first\r\n"
    exchange = Exchange(make_config(tls_active=False, auth_requires_tls=False))
    assert exchange.send(b"a LOGIN alice secret\r\n").startswith(b"a OK [CAPABILITY")


def test_authenticate_with_initial_response_rfc4959() -> None:
    exchange = Exchange()
    out = exchange.send(b"a AUTHENTICATE PLAIN " + PLAIN + b"\r\n")
    assert out.startswith(b"a OK [CAPABILITY IMAP4rev1 ") and out.endswith(b"] AUTHENTICATE completed\r\n")


def test_authenticate_with_a_challenge() -> None:
    exchange = Exchange()
    assert exchange.send(b"a AUTHENTICATE PLAIN\r\n") == b"+ \r\n"
    assert exchange.send(PLAIN + b"\r\n").startswith(b"a OK [CAPABILITY")
    assert exchange.session.state.value == "authenticated"


def test_authenticate_cancelled_and_malformed() -> None:
    exchange = Exchange()
    exchange.send(b"a AUTHENTICATE PLAIN\r\n")
    assert exchange.send(b"*\r\n") == b"a BAD AUTHENTICATE cancelled\r\n"
    assert isinstance(exchange.events[-1], AuthCancelled)
    exchange.send(b"b AUTHENTICATE PLAIN\r\n")
    assert exchange.send(b"not base64!\r\n") == b"b BAD Invalid base64 in SASL response\r\n"
    assert exchange.send(b"c AUTHENTICATE PLAIN\r\n") == b"+ \r\n"
    assert exchange.send(base64.b64encode(b"\0alice\0wrong") + b"\r\n") == (
        b"c NO [AUTHENTICATIONFAILED] Authentication failed\r\n"
    )
    assert exchange.send(b"d AUTHENTICATE GSSAPI\r\n") == b"d NO [CANNOT] Unsupported authentication mechanism\r\n"


def test_sasl_lines_are_bounded() -> None:
    exchange = Exchange()
    exchange.send(b"a AUTHENTICATE PLAIN\r\n")
    assert exchange.send(b"A" * 20000) == b""
    assert exchange.session.buffered_bytes == 0
    assert exchange.send(b"\r\n") == b"a BAD SASL response too long\r\n"
    assert exchange.send(b"b NOOP\r\n") == b"b OK NOOP completed\r\n"


def test_enable_rfc5161_rfc7162_rfc6855() -> None:
    exchange = logged_in()
    out = exchange.send(b"t2 ENABLE CONDSTORE X-GOOD-IDEA\r\n")
    assert out == b"* ENABLED CONDSTORE\r\nt2 OK ENABLE completed\r\n"
    assert exchange.send(b"t3 ENABLE CONDSTORE\r\n") == b"* ENABLED\r\nt3 OK ENABLE completed\r\n"
    assert (
        exchange.send(b"t4 ENABLE QRESYNC IMAP4rev2\r\n")
        == b"* ENABLED QRESYNC IMAP4rev2\r\nt4 OK ENABLE completed\r\n"
    )
    assert exchange.session.enabled == {"CONDSTORE", "QRESYNC", "IMAP4REV2"}
    assert exchange.session.utf8 and exchange.session.qresync and exchange.session.condstore
    assert [e.names for e in exchange.events if isinstance(e, ExtensionsEnabled)] == [
        ("CONDSTORE",), (), ("QRESYNC", "IMAP4REV2")
    ]  # fmt: skip


def test_qresync_enables_condstore() -> None:
    exchange = logged_in()
    exchange.send(b"a ENABLE QRESYNC\r\n")
    assert exchange.session.enabled == {"QRESYNC", "CONDSTORE"}


def test_commands_that_use_condstore_enable_it_rfc7162_3_1() -> None:
    exchange = selected()
    assert not exchange.session.condstore
    exchange.send(b"a FETCH 1 (FLAGS MODSEQ)\r\n")
    assert exchange.session.condstore
    for line in (b"b SELECT INBOX (CONDSTORE)", b"c SEARCH MODSEQ 5", b"d STORE 1 (UNCHANGEDSINCE 5) +FLAGS x"):
        exchange = selected()
        exchange.send(line + b"\r\n")
        assert exchange.session.condstore


def test_qresync_parameters_need_enable_rfc7162_3_2_5() -> None:
    exchange = logged_in()
    assert (
        exchange.send(b"a SELECT INBOX (QRESYNC (1 2))\r\n")
        == b"a BAD QRESYNC parameter needs ENABLE QRESYNC first\r\n"
    )
    exchange = selected()
    out = exchange.send(b"b UID FETCH 1:* FLAGS (CHANGEDSINCE 1 VANISHED)\r\n")
    assert out == b"b BAD VANISHED needs ENABLE QRESYNC first\r\n"


def test_reselect_sends_closed_with_qresync_rfc7162_3_2_11() -> None:
    exchange = logged_in()
    exchange.send(b"e ENABLE QRESYNC\r\ns SELECT INBOX\r\n")
    out = exchange.send(b"s2 SELECT INBOX (QRESYNC (3857529045 1))\r\n")
    assert out.startswith(b"* OK [CLOSED] Previous mailbox closed\r\n* 172 EXISTS\r\n")
    assert exchange.commands()[-1].qresync.uidvalidity == 3857529045
    # Without QRESYNC or IMAP4rev2 no CLOSED code is sent.
    exchange = selected()
    assert exchange.send(b"s2 SELECT INBOX\r\n").startswith(b"* 172 EXISTS\r\n")


def test_utf8_mode_changes_responses() -> None:
    exchange = logged_in()
    assert exchange.session.untagged(responses.list_mailbox("Entwürfe")) == b'* LIST () "/" Entw&APw-rfe\r\n'
    exchange.send(b"e ENABLE UTF8=ACCEPT\r\n")
    assert exchange.session.untagged(responses.list_mailbox("Entwürfe")) == b'* LIST () "/" "Entw\xc3\xbcrfe"\r\n'


def test_unsupported_charset_rfc9051_6_4_4() -> None:
    exchange = selected()
    out = exchange.send(b"a SEARCH CHARSET KOI8-R TEXT x\r\n")
    assert out == b"a NO [BADCHARSET (UTF-8 US-ASCII)] Unsupported charset\r\n"
    assert exchange.send(b"b SORT (DATE) ISO-8859-1 ALL\r\n").startswith(b"b NO [BADCHARSET")
    assert exchange.send(b"c THREAD FANCY UTF-8 ALL\r\n") == b"c BAD Unsupported THREAD algorithm FANCY\r\n"
    assert exchange.send(b"d SEARCH CHARSET us-ascii ALL\r\n") == b"d OK SEARCH completed\r\n"


def test_idle_rfc2177() -> None:
    exchange = selected()
    assert exchange.send(b"a IDLE\r\n") == b"+ idling\r\n* 173 EXISTS\r\n"
    assert exchange.session.untagged(responses.expunge(3)) == b"* 3 EXPUNGE\r\n"
    assert exchange.send(b"DONE\r\n") == b"a OK IDLE completed\r\n"
    assert isinstance(exchange.events[-1], IdleDone)
    assert exchange.send(b"b NOOP\r\n") == b"b OK NOOP completed\r\n"


def test_idle_accepts_only_done() -> None:
    exchange = selected()
    exchange.send(b"a IDLE\r\n")
    assert exchange.send(b"b NOOP\r\n") == b"a BAD Expected DONE to end IDLE\r\n"
    assert exchange.events[-1] == IdleDone(exchange.commands()[-1], cancelled=True)
    assert exchange.send(b"c NOOP\r\n") == b"c OK NOOP completed\r\n"


def test_idle_done_is_case_insensitive_and_pipelined_commands_wait() -> None:
    exchange = selected()
    exchange.send(b"a IDLE\r\n")
    assert exchange.send(b"done\r\nb NOOP\r\n") == b"a OK IDLE completed\r\nb OK NOOP completed\r\n"


def test_compress_rfc4978() -> None:
    exchange = logged_in()
    out = exchange.send(b"a COMPRESS DEFLATE\r\n\x78\x9c")
    assert out == b"a OK DEFLATE active\r\n"
    assert isinstance(exchange.events[-1], CompressionRequested)
    assert exchange.session.start_compression() == b"\x78\x9c"
    assert "COMPRESS=DEFLATE" not in caps(exchange.send(b"c CAPABILITY\r\n"))
    assert exchange.send(b"b COMPRESS DEFLATE\r\n") == b"b NO [COMPRESSIONACTIVE] Compression is already active\r\n"
    assert logged_in().send(b"b COMPRESS LZMA\r\n") == b"b NO [CANNOT] Unsupported compression LZMA\r\n"


def test_pipelined_commands_are_answered_in_order() -> None:
    exchange = logged_in()
    out = exchange.send(b"a1 NOOP\r\na2 CAPABILITY\r\na3 SELECT INBOX\r\na4 FETCH 1 FLAGS\r\na5 LOGOUT\r\n")
    tags = [line.split(b" ")[0] for line in out.split(b"\r\n") if line and not line.startswith(b"*")]
    assert tags == [b"a1", b"a2", b"a3", b"a4", b"a5"]
    assert isinstance(exchange.events[-1], LogoutReceived)


def test_connection_lost() -> None:
    exchange = logged_in()
    exchange.send(b"a1 APPEND INBOX {10+}\r\nabc")
    exchange.close()
    assert isinstance(exchange.events[-1], ConnectionLost)


def test_caller_mistakes_are_local_errors() -> None:
    session = Session(make_config())
    with pytest.raises(LocalProtocolError):
        session.ok()
    session.next_event()
    session.accept()
    session.receive_data(b"a LOGIN alice secret\r\n")
    session.next_event()
    with pytest.raises(LocalProtocolError):
        session.next_event()
    with pytest.raises(LocalProtocolError):
        session.ok()  # LOGIN needs login_succeeded()
    with pytest.raises(LocalProtocolError):
        session.untagged(responses.ok("x", tag="a"))
    session.login_succeeded("alice")
    with pytest.raises(LocalProtocolError):
        session.ok()
    session.receive_data(b"")
    with pytest.raises(LocalProtocolError):
        session.receive_data(b"x")


def test_reading_tells_the_transport_when_to_apply_backpressure() -> None:
    exchange = selected()
    session = exchange.session
    assert session.reading
    session.receive_data(b"a FETCH 1 FLAGS\r\nb NOOP\r\n")
    session.next_event()
    assert not session.reading
    session.ok()
    assert session.reading
    session.receive_data(b"c IDLE\r\n")
    session.next_event()  # b NOOP
    session.ok()
    session.next_event()
    assert session.reading  # IDLE reads on, waiting for DONE


def test_idle_is_completed_only_after_done() -> None:
    session = selected().session
    session.receive_data(b"a IDLE\r\n")
    session.next_event()
    with pytest.raises(LocalProtocolError):
        session.ok()
    session.receive_data(b"DONE\r\n")
    assert isinstance(session.next_event(), IdleDone)
    assert session.ok() == b"+ idling\r\na OK IDLE completed\r\n"


def test_idle_ended_by_the_service_ignores_the_done_that_follows() -> None:
    session = selected().session
    session.receive_data(b"a IDLE\r\n")
    session.next_event()
    assert session.no("Mailbox deleted") == b"+ idling\r\na NO Mailbox deleted\r\n"
    session.receive_data(b"DONE\r\nb NOOP\r\n")
    event = session.next_event()
    assert event.command.tag == "b"
    assert session.data_to_send() == b""
