"""Conversation scripts: ``C:``/``S:`` dialogues played over any ``Channel``.

The line protocols (SMTP, POP3, IMAP) test their sans-I/O cores with the same
scripts in memory (each has an ``InMemoryChannel`` over its fake world) and
over real sockets against the running service (``SocketChannel`` below):
only the channel differs.

Script lines::

    # comment (blank lines are ignored too)
    OPTION: name[=value]   settings the script needs (lmtp, starttls, a limit, ...);
                           each protocol's tests read them
    C: text               client sends text + <CRLF>; consecutive C:/RAW: lines go
                          out in one write, i.e. pipelined
    RAW: text             client sends exactly these bytes (no <CRLF> added), with
                          escapes \\r \\n \\t \\0 \\\\ \\xHH, and \\{N:text} for text
                          (itself escaped, without "}") repeated N times
    S: regex              next server line (without <CRLF>) must fully match
    TLS                   run the TLS handshake (after the server's yes to STARTTLS/STLS)
    CLOSED                the server has closed the connection

At the end every server line must have been matched.
"""

from __future__ import annotations

import re
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


class Channel(Protocol):
    def send(self, data: bytes) -> None:
        """Write bytes to the server."""

    def read_line(self) -> str | None:
        """The next reply line without <CRLF>; ``None`` if none comes (nothing sent, or closed)."""

    def start_tls(self) -> None:
        """Perform the TLS handshake on the connection."""

    @property
    def closed(self) -> bool:
        """Whether the server has closed the connection."""

    def leftover(self) -> list[str]:
        """Reply lines received but never read."""


@dataclass(frozen=True)
class Send:
    data: bytes
    line: int


@dataclass(frozen=True)
class Expect:
    pattern: re.Pattern[str]
    line: int


@dataclass(frozen=True)
class StartTls:
    line: int


@dataclass(frozen=True)
class ExpectClosed:
    line: int


Step = Send | Expect | StartTls | ExpectClosed


@dataclass(frozen=True)
class Script:
    name: str
    options: dict[str, str]
    steps: tuple[Step, ...]


class ConversationError(AssertionError):
    pass


def load_script(path: Path) -> Script:
    return parse_script(path.read_text(encoding="utf-8"), name=path.stem)


def parse_script(text: str, *, name: str = "script") -> Script:
    options: dict[str, str] = {}
    steps: list[Step] = []
    pending = bytearray()
    pending_line = 0

    def flush() -> None:
        nonlocal pending_line
        if pending:
            steps.append(Send(bytes(pending), pending_line))
            pending.clear()

    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip("\n")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line.startswith("C: ") or line == "C:":
            if not pending:
                pending_line = number
            pending.extend(line[3:].encode("utf-8") + b"\r\n")
            continue
        if line.startswith("RAW: "):
            if not pending:
                pending_line = number
            pending.extend(unescape(line[5:]))
            continue
        flush()
        if line.startswith("S: ") or line == "S:":
            steps.append(Expect(re.compile(line[3:]), number))
        elif line.strip() == "TLS":
            steps.append(StartTls(number))
        elif line.strip() == "CLOSED":
            steps.append(ExpectClosed(number))
        elif line.startswith("OPTION: "):
            key, _, value = line[8:].strip().partition("=")
            options[key.strip()] = value.strip()
        else:
            raise ValueError(f"{name}:{number}: cannot parse {line!r}")
    flush()
    return Script(name, options, tuple(steps))


_ESCAPE = re.compile(r"\\(?:x([0-9A-Fa-f]{2})|\{(\d+):([^}]*)\}|(.))", re.DOTALL)
_SIMPLE_ESCAPES = {"r": b"\r", "n": b"\n", "t": b"\t", "0": b"\0", "\\": b"\\"}


def unescape(text: str) -> bytes:
    out = bytearray()
    position = 0
    for match in _ESCAPE.finditer(text):
        out += text[position : match.start()].encode("utf-8")
        hex_digits, count, repeated, simple = match.groups()
        if hex_digits is not None:
            out.append(int(hex_digits, 16))
        elif count is not None:
            out += unescape(repeated) * int(count)
        elif simple in _SIMPLE_ESCAPES:
            out += _SIMPLE_ESCAPES[simple]
        else:
            raise ValueError(f"unknown escape \\{simple} in {text!r}")
        position = match.end()
    out += text[position:].encode("utf-8")
    return bytes(out)


def play(script: Script, channel: Channel) -> None:
    """Run ``script`` against ``channel``; raise ``ConversationError`` at the first mismatch."""
    for step in script.steps:
        where = f"{script.name}:{step.line}"
        if isinstance(step, Send):
            channel.send(step.data)
        elif isinstance(step, Expect):
            received = channel.read_line()
            if received is None:
                state = "closed the connection" if channel.closed else "sent nothing"
                raise ConversationError(f"{where}: expected {step.pattern.pattern!r}, but the server {state}")
            if not step.pattern.fullmatch(received):
                raise ConversationError(f"{where}: expected {step.pattern.pattern!r}, got {received!r}")
        elif isinstance(step, StartTls):
            channel.start_tls()
        else:
            received = channel.read_line()
            if received is not None or not channel.closed:
                got = f"got {received!r}" if received is not None else "it is still open"
                raise ConversationError(f"{where}: expected the server to close the connection, {got}")
    leftover = channel.leftover()
    if leftover:
        raise ConversationError(f"{script.name}: unexpected reply lines at the end: {leftover!r}")


class SocketChannel:
    """A ``Channel`` to a real server over TCP, TLS from the start or after STARTTLS."""

    def __init__(self, port: int, *, tls: bool = False, timeout: float = 5.0) -> None:
        self.timeout = timeout
        raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock: socket.socket = _client_context().wrap_socket(raw) if tls else raw
        self._buffer = b""
        self._closed = False

    def send(self, data: bytes) -> None:
        if not self._closed:
            self.sock.sendall(data)

    def read_line(self, timeout: float | None = None) -> str | None:
        self.sock.settimeout(timeout or self.timeout)
        while b"\r\n" not in self._buffer and not self._closed:
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                return None
            except (ConnectionError, ssl.SSLError, OSError):
                chunk = b""
            if not chunk:
                self._closed = True
            self._buffer += chunk
        if b"\r\n" not in self._buffer:
            return None
        line, self._buffer = self._buffer.split(b"\r\n", 1)
        return line.decode("utf-8", "replace")

    def start_tls(self) -> None:
        # Whatever the server sent in the clear after its yes was already read; TLS starts now.
        self.sock = _client_context().wrap_socket(self.sock)

    @property
    def closed(self) -> bool:
        if not self._closed and not self._buffer:
            self.read_line(timeout=0.5)  # a server that closed shows it now
        return self._closed

    def leftover(self) -> list[str]:
        lines = []
        while (line := self.read_line(timeout=0.3)) is not None:
            lines.append(line)
        return lines

    def close(self) -> None:
        self.sock.close()


def _client_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the test servers' certificates are self-signed
    return context
