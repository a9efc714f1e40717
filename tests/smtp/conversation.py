"""Conversation scripts: parse ``C:``/``S:`` dialogues and play them over any ``Channel``.

The same script runs against the sans-I/O core in memory (``tests/smtp/fakes.py``)
and, later, against a real server over a socket: only the ``Channel`` differs.

Script lines::

    # comment (blank lines are ignored too)
    OPTION: name[=value]   listener settings the script needs (lmtp, starttls, ...)
    C: text               client sends text + <CRLF>; consecutive C:/RAW: lines go
                          out in one write, i.e. pipelined
    RAW: text             client sends exactly these bytes (no <CRLF> added), with
                          escapes \\r \\n \\t \\0 \\\\ \\xHH, and \\{N:text} for text
                          (itself escaped, without "}") repeated N times
    S: regex              next reply line (without <CRLF>) must fully match
    TLS                   run the TLS handshake (after a 220 to STARTTLS)
    CLOSED                the server has closed the connection

At the end every reply line must have been matched.
"""

from __future__ import annotations

import re
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
