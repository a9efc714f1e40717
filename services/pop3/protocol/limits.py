"""Limits of one POP3 session; values below the RFC floors are refused."""

from __future__ import annotations

from dataclasses import dataclass

# RFC 2449 section 4: a command line is at most 255 octets, CRLF included.
COMMAND_LINE_FLOOR = 255
# SASL responses (RFC 5034 section 4) are not bound by the command limit; a
# SCRAM client-final message is about 150 octets, a PLAIN one up to a few hundred.
AUTH_LINE_FLOOR = 1024


@dataclass(frozen=True, slots=True)
class Limits:
    max_command_line: int = COMMAND_LINE_FLOOR
    max_auth_line: int = 12288
    max_errors: int = 10  # client mistakes before "-ERR Too many errors" and close
    max_auth_failures: int = 3  # wrong credentials before the connection is closed

    def __post_init__(self) -> None:
        if self.max_command_line < COMMAND_LINE_FLOOR:
            raise ValueError(f"max_command_line must be >= {COMMAND_LINE_FLOOR} (RFC 2449 section 4)")
        if self.max_auth_line < AUTH_LINE_FLOOR:
            raise ValueError(f"max_auth_line must be >= {AUTH_LINE_FLOOR}")
        if self.max_errors < 1 or self.max_auth_failures < 1:
            raise ValueError("max_errors and max_auth_failures must be >= 1")
