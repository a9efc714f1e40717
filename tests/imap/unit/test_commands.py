"""Every command the parser knows has a name the state table knows, in every spelling."""

import pytest

from services.imap.protocol.parser import HANDLERS, UID_COMMANDS
from services.imap.protocol.states import ALLOWED
from tests.imap.framing import parse

SAMPLES = {
    "CAPABILITY": b"CAPABILITY",
    "NOOP": b"NOOP",
    "LOGOUT": b"LOGOUT",
    "ID": b"ID NIL",
    "STARTTLS": b"STARTTLS",
    "AUTHENTICATE": b"AUTHENTICATE PLAIN",
    "LOGIN": b"LOGIN a b",
    "ENABLE": b"ENABLE CONDSTORE",
    "SELECT": b"SELECT INBOX",
    "EXAMINE": b"EXAMINE INBOX",
    "CREATE": b"CREATE x",
    "DELETE": b"DELETE x",
    "RENAME": b"RENAME x y",
    "SUBSCRIBE": b"SUBSCRIBE x",
    "UNSUBSCRIBE": b"UNSUBSCRIBE x",
    "LIST": b'LIST "" *',
    "LSUB": b'LSUB "" *',
    "NAMESPACE": b"NAMESPACE",
    "STATUS": b"STATUS x (MESSAGES)",
    "APPEND": b"APPEND x {1+}\r\nm",
    "IDLE": b"IDLE",
    "GETQUOTA": b'GETQUOTA ""',
    "GETQUOTAROOT": b"GETQUOTAROOT INBOX",
    "SETQUOTA": b'SETQUOTA "" (STORAGE 1)',
    "SETACL": b"SETACL x bob lr",
    "DELETEACL": b"DELETEACL x bob",
    "GETACL": b"GETACL x",
    "LISTRIGHTS": b"LISTRIGHTS x bob",
    "MYRIGHTS": b"MYRIGHTS x",
    "COMPRESS": b"COMPRESS DEFLATE",
    "CHECK": b"CHECK",
    "CLOSE": b"CLOSE",
    "UNSELECT": b"UNSELECT",
    "EXPUNGE": b"EXPUNGE",
    "FETCH": b"FETCH 1 FLAGS",
    "STORE": b"STORE 1 FLAGS ()",
    "COPY": b"COPY 1 x",
    "MOVE": b"MOVE 1 x",
    "SEARCH": b"SEARCH ALL",
    "SORT": b"SORT (DATE) UTF-8 ALL",
    "THREAD": b"THREAD REFERENCES UTF-8 ALL",
}
UID_SAMPLES = {name: b"UID " + SAMPLES[name].replace(b"EXPUNGE", b"EXPUNGE 1") for name in UID_COMMANDS}


def test_every_handler_has_a_sample() -> None:
    assert set(SAMPLES) == set(HANDLERS)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_command_names_match_the_state_table(name: str) -> None:
    command = parse(b"t " + SAMPLES[name])
    assert command.name == name
    assert command.name in ALLOWED
    assert parse(b"t " + SAMPLES[name].lower().replace(b"{1+}", b"{1+}")).name == name


@pytest.mark.parametrize("name", sorted(UID_SAMPLES))
def test_uid_command_names(name: str) -> None:
    command = parse(b"t " + UID_SAMPLES[name])
    assert command.name == f"UID {name}"
    assert command.name in ALLOWED
