"""The conversation scripts that do not depend on the in-memory test world,
replayed over real sockets against the real pop3 process (STYLE.md, tests:
the same scripts, in memory and over the network)."""

from __future__ import annotations

from pathlib import Path

import pytest

from libs.testing.conversation import SocketChannel, load_script, play
from tests.pop3.integration.conftest import Pop3Suite

SCRIPTS = Path(__file__).parents[1] / "conversations"
# Scripts that need no account, message or setting of the fake world.
PORTABLE = (
    "auth_cancelled_or_malformed",
    "auth_without_mechanism_lists_mechanisms",
    "capa_before_login_without_tls",
    "capa_under_implicit_tls_offers_user_and_plain",
    "junk_bytes_are_refused",
    "overlong_command_line_is_refused",
    "pass_without_user_is_refused",
    "quit_before_login_removes_nothing",
    "unknown_commands_are_refused",
    "user_and_pass_refused_without_tls",
)


def test_the_portable_scripts_exist() -> None:
    assert all((SCRIPTS / f"{name}.txt").is_file() for name in PORTABLE)


@pytest.mark.parametrize("name", PORTABLE)
def test_conversation_over_a_socket(pop3_suite: Pop3Suite, name: str) -> None:
    script = load_script(SCRIPTS / f"{name}.txt")
    assert set(script.options) <= {"starttls", "implicit_tls"}, "only listener options make sense here"
    implicit_tls = "implicit_tls" in script.options
    port = pop3_suite.pop3.tls_port if implicit_tls else pop3_suite.pop3.port
    channel = SocketChannel(port, tls=implicit_tls, timeout=5.0)
    try:
        play(script, channel)
    finally:
        channel.close()
