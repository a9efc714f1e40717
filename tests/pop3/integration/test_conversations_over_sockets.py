"""The conversation scripts that do not depend on the in-memory test world,
replayed over real sockets against the real pop3 process (STYLE.md, tests:
the same scripts, in memory and over the network)."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path

import pytest

from tests.pop3.integration.conftest import Pop3Suite
from tests.smtp.conversation import load_script, play

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


class SocketChannel:
    """A conversation ``Channel`` over TCP (and TLS)."""

    def __init__(self, port: int, *, implicit_tls: bool) -> None:
        self.sock: socket.socket = socket.create_connection(("127.0.0.1", port), timeout=10)
        if implicit_tls:
            self.sock = _context().wrap_socket(self.sock)
        self._buffer = b""
        self._closed = False

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read_line(self, timeout: float = 5.0) -> str | None:
        self.sock.settimeout(timeout)
        while b"\r\n" not in self._buffer and not self._closed:
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                return None
            except (ConnectionError, ssl.SSLError):
                chunk = b""
            if not chunk:
                self._closed = True
            self._buffer += chunk
        if b"\r\n" not in self._buffer:
            return None
        line, self._buffer = self._buffer.split(b"\r\n", 1)
        return line.decode("utf-8", "replace")

    def start_tls(self) -> None:
        self.sock = _context().wrap_socket(self.sock)

    @property
    def closed(self) -> bool:
        return self._closed

    def leftover(self) -> list[str]:
        lines = []
        while (line := self.read_line(timeout=0.3)) is not None:
            lines.append(line)
        return lines

    def close(self) -> None:
        self.sock.close()


def _context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def test_the_portable_scripts_exist() -> None:
    assert all((SCRIPTS / f"{name}.txt").is_file() for name in PORTABLE)


@pytest.mark.parametrize("name", PORTABLE)
def test_conversation_over_a_socket(pop3_suite: Pop3Suite, name: str) -> None:
    script = load_script(SCRIPTS / f"{name}.txt")
    assert set(script.options) <= {"starttls", "implicit_tls"}, "only listener options make sense here"
    implicit_tls = "implicit_tls" in script.options
    port = pop3_suite.pop3.tls_port if implicit_tls else pop3_suite.pop3.port
    channel = SocketChannel(port, implicit_tls=implicit_tls)
    try:
        play(script, channel)
    finally:
        channel.close()
