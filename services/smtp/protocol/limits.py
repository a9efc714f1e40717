"""Size and count limits of an SMTP/LMTP session, and the bare-newline policy for DATA.

Every limit is a number the operator may raise; none may go below the floor
RFC 5321 section 4.5.3.1 sets for it, because a conforming client is allowed to
use that much.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

# RFC 5321 section 4.5.3.1.4: a command line is at most 512 octets including <CRLF>.
RFC_COMMAND_LINE = 512
# RFC 5321 section 4.5.3.1.6: a text line is at most 1000 octets including <CRLF>.
RFC_TEXT_LINE = 1000
# RFC 5321 section 4.5.3.1.8: a server must buffer at least 100 recipients.
RFC_RECIPIENTS = 100
# RFC 4954 section 4: "12288 octets is considered to be a sufficient line length
# limit for handling of deployed authentication mechanisms".
RFC_AUTH_LINE = 12288


class BareNewlinePolicy(enum.Enum):
    """What happens to a bare <CR> or <LF> inside DATA (RFC 5321 section 2.3.8).

    Whatever the policy, only <CRLF>.<CRLF> ends the data (RFC 5321 section
    4.1.1.4), so no "SMTP smuggling" sequence such as <LF>.<LF> can end a
    message early.
    """

    #: Answer 550 5.5.2 at once and close the connection, as Postfix does with
    #: ``smtpd_forbid_bare_newline = reject``. The message is not delivered.
    REJECT = "reject"
    #: Deliver the bare <CR> or <LF> as <CRLF>. Only <CRLF>-ended lines are
    #: protocol lines: a "." after a normalised line break is plain content,
    #: never the terminator and never unstuffed.
    NORMALIZE = "normalize"


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds that keep one session's memory and effort small."""

    #: Longest command line, <CRLF> included. RFC 5321 allows 512; extensions such
    #: as DSN (ORCPT, ENVID) and AUTH= make MAIL/RCPT lines longer in practice.
    max_command_line: int = 4096
    #: Longest SASL response line during AUTH, <CRLF> included (RFC 4954 section 4).
    max_auth_line: int = RFC_AUTH_LINE
    #: Longest DATA text line, <CRLF> included, the stuffing dot not counted
    #: (RFC 5321 section 4.5.3.1.6). ``None`` disables the check. A longer line
    #: makes the message fail with 500 5.5.2 after its end (section 4.5.3.1.9).
    max_text_line: int | None = RFC_TEXT_LINE
    #: Largest message in octets, advertised as SIZE (RFC 1870).
    max_message_size: int = 50 * 1024 * 1024
    #: Recipients per transaction; beyond it RCPT gets 452 4.5.3 (RFC 5321 4.5.3.1.10).
    max_recipients: int = RFC_RECIPIENTS
    #: Protocol errors per session before 421 4.7.0 and disconnect.
    max_errors: int = 10

    def __post_init__(self) -> None:
        floors = {
            "max_command_line": (self.max_command_line, RFC_COMMAND_LINE),
            "max_auth_line": (self.max_auth_line, RFC_COMMAND_LINE),
            "max_text_line": (RFC_TEXT_LINE if self.max_text_line is None else self.max_text_line, RFC_TEXT_LINE),
            "max_message_size": (self.max_message_size, 1),
            "max_recipients": (self.max_recipients, 1),
            "max_errors": (self.max_errors, 1),
        }
        for name, (value, floor) in floors.items():
            if value < floor:
                raise ValueError(f"{name} must be at least {floor}, got {value}")
