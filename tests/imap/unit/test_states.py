"""Which command may run in which state (RFC 9051 section 3, 6.1 - 6.4), and the transitions."""

import pytest

from services.imap.protocol import State
from services.imap.protocol.states import ALLOWED, refusal
from tests.imap.fakes import Exchange, logged_in, selected


@pytest.mark.parametrize(
    ("line", "reply"),
    [
        (b"a SELECT INBOX", b"a BAD SELECT needs authentication first"),
        (b"a FETCH 1 FLAGS", b"a BAD FETCH needs authentication first"),
        (b"a UID FETCH 1 FLAGS", b"a BAD UID FETCH needs authentication first"),
        (b"a ENABLE CONDSTORE", b"a BAD ENABLE needs authentication first"),
        (b"a IDLE", b"a BAD IDLE needs authentication first"),
    ],
)
def test_not_authenticated(line: bytes, reply: bytes) -> None:
    assert Exchange().send(line + b"\r\n") == reply + b"\r\n"


@pytest.mark.parametrize(
    ("line", "reply"),
    [
        (b"a LOGIN alice secret", b"a BAD LOGIN is only valid before authentication (already authenticated)"),
        (b"a AUTHENTICATE PLAIN", b"a BAD AUTHENTICATE is only valid before authentication (already authenticated)"),
        (b"a STARTTLS", b"a BAD STARTTLS is only valid before authentication (already authenticated)"),
        (b"a FETCH 1 FLAGS", b"a BAD FETCH needs a selected mailbox (no mailbox selected)"),
        (b"a UID EXPUNGE 1", b"a BAD UID EXPUNGE needs a selected mailbox (no mailbox selected)"),
        (b"a CLOSE", b"a BAD CLOSE needs a selected mailbox (no mailbox selected)"),
    ],
)
def test_authenticated(line: bytes, reply: bytes) -> None:
    assert logged_in().send(line + b"\r\n") == reply + b"\r\n"


def test_enable_is_refused_once_a_mailbox_is_selected_rfc5161() -> None:
    out = selected().send(b"a ENABLE CONDSTORE\r\n")
    assert out == b"a BAD [CLIENTBUG] ENABLE is only valid before a mailbox is selected\r\n"


def test_transitions() -> None:
    exchange = Exchange()
    assert exchange.session.state is State.NOT_AUTHENTICATED
    exchange.send(b"a LOGIN alice wrong\r\n")
    assert exchange.session.state is State.NOT_AUTHENTICATED
    exchange.send(b"a LOGIN alice secret\r\n")
    assert exchange.session.state is State.AUTHENTICATED
    assert exchange.session.authenticated_as == "alice@example.test"
    exchange.send(b"b EXAMINE INBOX\r\n")
    assert exchange.session.state is State.SELECTED and exchange.session.read_only
    exchange.send(b"c SELECT INBOX\r\n")
    assert exchange.session.state is State.SELECTED and not exchange.session.read_only
    # RFC 9051 section 6.3.2: a failed SELECT leaves no mailbox selected.
    assert exchange.send(b"d SELECT Missing\r\n") == b"d NO [NONEXISTENT] No such mailbox\r\n"
    assert exchange.session.state is State.AUTHENTICATED
    exchange.send(b"e SELECT INBOX\r\nf CLOSE\r\n")
    assert exchange.session.state is State.AUTHENTICATED
    exchange.send(b"g SELECT INBOX\r\nh UNSELECT\r\n")
    assert exchange.session.state is State.AUTHENTICATED
    out = exchange.send(b"i LOGOUT\r\n")
    assert out == b"* BYE imap.example.test logging out\r\ni OK LOGOUT completed\r\n"
    assert exchange.session.state is State.LOGOUT
    assert exchange.send(b"j NOOP\r\n") == b""


def test_any_state_commands_work_everywhere() -> None:
    for exchange in (Exchange(), logged_in(), selected()):
        assert exchange.send(b"n NOOP\r\n") == b"n OK NOOP completed\r\n"
        assert exchange.send(b"c CAPABILITY\r\n").endswith(b"c OK CAPABILITY completed\r\n")
        assert exchange.send(b'i ID ("name" "x")\r\n') == b'* ID ("name" "Parley")\r\ni OK ID completed\r\n'


def test_table_has_no_gaps() -> None:
    for name in ALLOWED:
        for state in (State.NOT_AUTHENTICATED, State.AUTHENTICATED, State.SELECTED):
            error = refusal(state, name)
            assert error is None or error.status == "BAD"
    assert refusal(State.SELECTED, "FROB").text == "Unknown command FROB"
