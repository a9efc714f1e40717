"""The ``*.txt`` scripts in ``conversations/`` played over real sockets against the IMAP service.

The same player as tests/imap/conversations (there against the core in
memory); ``OPTION: starttls`` plays a script on the STARTTLS port, every
other script on the implicit-TLS port. Scripts log in as alice.
"""

from pathlib import Path

import pytest

from libs.testing.conversation import SocketChannel, load_script, play
from tests.imap.integration.conftest import ImapSuite

SCRIPTS = sorted((Path(__file__).parent / "conversations").glob("*.txt"))


@pytest.mark.parametrize("path", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_conversation_over_a_socket(imap_suite: ImapSuite, path: Path) -> None:
    script = load_script(path)
    starttls = "starttls" in script.options
    channel = SocketChannel(imap_suite.port if starttls else imap_suite.tls_port, tls=not starttls)
    try:
        play(script, channel)
    finally:
        channel.close()
