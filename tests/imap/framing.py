"""Helpers that frame bytes into commands and parse them, without a session."""

from __future__ import annotations

from services.imap.protocol.commands import Command
from services.imap.protocol.errors import ParseError
from services.imap.protocol.limits import Limits
from services.imap.protocol.parser import parse_command
from services.imap.protocol.reader import CommandReader, CommandUnit, ReaderEvent


def frame(data: bytes, limits: Limits | None = None) -> list[ReaderEvent]:
    reader = CommandReader(limits or Limits())
    buffer = bytearray(data)
    events = []
    while (event := reader.next(buffer)) is not None:
        events.append(event)
    return events


def parse(data: bytes, *, utf8: bool = False) -> Command:
    """Parse one command; ``data`` may omit the final CRLF."""
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    units = [e for e in frame(data) if isinstance(e, CommandUnit)]
    assert len(units) == 1, units
    return parse_command(units[0], utf8=utf8)


def parse_error(data: bytes, *, utf8: bool = False) -> str:
    try:
        command = parse(data, utf8=utf8)
    except ParseError as error:
        return error.text
    raise AssertionError(f"parsed: {command!r}")
