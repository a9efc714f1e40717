"""Size and count limits of an IMAP session: what keeps one connection's memory bounded.

Every buffer the core keeps is bounded by one of these numbers. Message data
of APPEND is the one thing that may be large; it is never accumulated but
handed out in chunks as it arrives (``AppendDataChunk``).
"""

from __future__ import annotations

from dataclasses import dataclass

# RFC 7888 section 4: with LITERAL- a non-synchronizing literal may carry at most 4096 octets.
LITERAL_MINUS_MAX = 4096
# RFC 7162 section 4 asks servers to accept command lines of at least 8192 octets;
# anything smaller would refuse the UID sets clients resynchronise with.
RFC_MIN_LINE = 8192


@dataclass(frozen=True, slots=True)
class Limits:
    #: Octets of command text (all lines of one command, CRLFs included, literal
    #: contents excluded). Longer commands are dropped as they arrive and get BAD.
    max_line: int = 64 * 1024
    #: Largest literal in any command other than APPEND message data (LOGIN
    #: passwords, mailbox names, SEARCH strings ...).
    max_literal: int = 64 * 1024
    #: Text plus literals held in memory for one command (message data excluded).
    max_command: int = 1024 * 1024
    #: Largest message accepted by APPEND, advertised as APPENDLIMIT (RFC 7889).
    append_limit: int = 50 * 1024 * 1024
    #: Literals in one command (MULTIAPPEND messages count too).
    max_literals: int = 1000
    #: Depth of nested parentheses (and nested SEARCH keys).
    max_depth: int = 100
    #: BAD responses per session before the server says BYE and closes.
    max_errors: int = 20
    #: SASL response line during AUTHENTICATE (RFC 4954 names 12288 for SMTP; same here).
    max_auth_line: int = 12288

    def __post_init__(self) -> None:
        floors = {
            "max_line": (self.max_line, RFC_MIN_LINE),
            "max_literal": (self.max_literal, 1024),
            "max_command": (self.max_command, self.max_line),
            "append_limit": (self.append_limit, 1),
            "max_literals": (self.max_literals, 1),
            "max_depth": (self.max_depth, 8),
            "max_errors": (self.max_errors, 1),
            "max_auth_line": (self.max_auth_line, 1024),
        }
        for name, (value, floor) in floors.items():
            if value < floor:
                raise ValueError(f"{name} must be at least {floor}, got {value}")
