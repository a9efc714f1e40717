"""Conversation scripts: ``C:``/``S:`` dialogues played over any ``Channel``.

The same script runs against the sans-I/O core in memory (``InMemoryChannel``
below, with the fake service of ``fakes``) and, once the IMAP service exists,
against a real server over a socket: only the channel differs.

Script lines::

    # comment (blank lines are ignored too)
    OPTION: name[=value]  session settings: starttls, plaintext (no TLS yet),
                          literal_minus, and any ``Limits`` field (max_errors=3)
    C: text               client sends text + <CRLF>; consecutive C:/RAW: lines go
                          out in one write, i.e. pipelined
    RAW: text             exactly these bytes, with escapes \\r \\n \\t \\0 \\\\ \\xHH
                          and \\{N:text} for text repeated N times
    S: regex              next server line (without <CRLF>) must fully match
    TLS                   run the TLS handshake (after the OK to STARTTLS)
    CLOSED                the server has closed the connection

At the end every server line must have been matched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from services.imap.protocol import ConnectionLost, Limits, LogoutReceived, SessionClosed, SessionConfig
from tests.imap.fakes import Exchange


class Channel(Protocol):
    def send(self, data: bytes) -> None: ...
    def read_line(self) -> str | None: ...
    def start_tls(self) -> None: ...
    @property
    def closed(self) -> bool: ...
    def leftover(self) -> list[str]: ...


@dataclass(frozen=True)
class Step:
    kind: str  # "send", "expect", "tls", "closed"
    line: int
    data: bytes = b""
    pattern: re.Pattern[str] | None = None


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
        if pending:
            steps.append(Step("send", pending_line, bytes(pending)))
            pending.clear()

    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line.startswith(("C: ", "RAW: ")):
            if not pending:
                pending_line = number
            if line.startswith("C: "):
                pending.extend(line[3:].encode("utf-8") + b"\r\n")
            else:
                pending.extend(unescape(line[5:]))
            continue
        flush()
        if line.startswith("S: "):
            steps.append(Step("expect", number, pattern=re.compile(line[3:])))
        elif line.strip() == "TLS":
            steps.append(Step("tls", number))
        elif line.strip() == "CLOSED":
            steps.append(Step("closed", number))
        elif line.startswith("OPTION: "):
            key, _, value = line[8:].strip().partition("=")
            options[key.strip()] = value.strip()
        else:
            raise ValueError(f"{name}:{number}: cannot parse {line!r}")
    flush()
    return Script(name, options, tuple(steps))


_ESCAPE = re.compile(r"\\(?:x([0-9A-Fa-f]{2})|\{(\d+):([^}]*)\}|(.))", re.DOTALL)
_SIMPLE = {"r": b"\r", "n": b"\n", "t": b"\t", "0": b"\0", "\\": b"\\"}


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
        elif simple in _SIMPLE:
            out += _SIMPLE[simple]
        else:
            raise ValueError(f"unknown escape \\{simple} in {text!r}")
        position = match.end()
    out += text[position:].encode("utf-8")
    return bytes(out)


def play(script: Script, channel: Channel) -> None:
    """Run ``script`` against ``channel``; raise ``ConversationError`` at the first mismatch."""
    for step in script.steps:
        where = f"{script.name}:{step.line}"
        if step.kind == "send":
            channel.send(step.data)
        elif step.kind == "expect":
            assert step.pattern is not None
            received = channel.read_line()
            if received is None:
                state = "closed the connection" if channel.closed else "sent nothing"
                raise ConversationError(f"{where}: expected {step.pattern.pattern!r}, but the server {state}")
            if not step.pattern.fullmatch(received):
                raise ConversationError(f"{where}: expected {step.pattern.pattern!r}, got {received!r}")
        elif step.kind == "tls":
            channel.start_tls()
        else:
            received = channel.read_line()
            if received is not None or not channel.closed:
                got = f"got {received!r}" if received is not None else "it is still open"
                raise ConversationError(f"{where}: expected the server to close the connection, {got}")
    leftover = channel.leftover()
    if leftover:
        raise ConversationError(f"{script.name}: unexpected server lines at the end: {leftover!r}")


def config_from_options(options: dict[str, str]) -> SessionConfig:
    limit_names = set(Limits.__dataclass_fields__)
    unknown = set(options) - {"starttls", "plaintext", "literal_minus"} - limit_names
    if unknown:
        raise ValueError(f"unknown script options: {sorted(unknown)}")
    limits = Limits(**{k: int(v) for k, v in options.items() if k in limit_names})
    return SessionConfig(
        hostname="imap.example.test",
        limits=limits,
        tls_available="starttls" in options,
        tls_active="plaintext" not in options and "starttls" not in options,
        literal_minus="literal_minus" in options,
    )


class InMemoryChannel:
    """A ``Channel`` whose server is the sans-I/O session with the fake service of ``fakes``."""

    def __init__(self, config: SessionConfig) -> None:
        self.exchange = Exchange(config)
        self._output = bytearray(self.exchange.greeting)
        self._lines: list[str] = []

    def send(self, data: bytes) -> None:
        if not self.closed:
            self._output += self.exchange.send(data)

    def read_line(self) -> str | None:
        self._collect()
        return self._lines.pop(0) if self._lines else None

    def start_tls(self) -> None:
        self.exchange.session.start_tls()

    @property
    def closed(self) -> bool:
        return any(isinstance(e, LogoutReceived | SessionClosed | ConnectionLost) for e in self.exchange.events)

    def leftover(self) -> list[str]:
        self._collect()
        return list(self._lines)

    def _collect(self) -> None:
        if self._output:
            text = self._output.decode("utf-8", "replace")
            self._output.clear()
            assert text.endswith("\r\n"), f"response not terminated by CRLF: {text!r}"
            self._lines.extend(text[:-2].split("\r\n"))


class SocketChannel:
    """A ``Channel`` whose server is a real IMAP service on a socket (tests/imap/integration)."""

    def __init__(self, port: int, *, tls: bool, timeout: float = 5.0) -> None:
        import socket
        import ssl

        self._context = ssl.create_default_context()
        self._context.check_hostname = False
        self._context.verify_mode = ssl.CERT_NONE
        self.timeout = timeout
        raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock = self._context.wrap_socket(raw) if tls else raw
        self._buffer = b""
        self._closed = False

    def send(self, data: bytes) -> None:
        if not self._closed:
            self.sock.sendall(data)

    def read_line(self, timeout: float | None = None) -> str | None:
        self.sock.settimeout(timeout or self.timeout)
        while b"\r\n" not in self._buffer:
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                return None
            except OSError:
                chunk = b""
            if not chunk:
                self._closed = True
                return None
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\r\n", 1)
        return line.decode("utf-8", "replace")

    def start_tls(self) -> None:
        # Whatever the server sent in the clear after its OK was already read; TLS starts now.
        self.sock = self._context.wrap_socket(self.sock)

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
