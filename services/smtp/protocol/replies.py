"""SMTP replies (RFC 5321 section 4.2) and the standard ones this server sends.

A ``Reply`` is a value: code, enhanced status code (RFC 3463, advertised as
ENHANCEDSTATUSCODES per RFC 2034), and one or more text lines. ``to_bytes()``
renders it on the wire. The functions below build every reply the protocol
core sends itself, plus the common ones a policy answers with, so the same
situation always gets the same words.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from dataclasses import dataclass

from .errors import LocalProtocolError

# RFC 5321 section 4.2: Reply-code = %x32-35 %x30-35 %x30-39
_REPLY_CODE = re.compile(r"[2-5][0-5][0-9]")
# RFC 3463 section 2: class "." subject "." detail, subject and detail 1 to 3 digits.
_ENHANCED_CODE = re.compile(r"[245]\.[0-9]{1,3}\.[0-9]{1,3}")
_FORBIDDEN_IN_TEXT = re.compile(r"[\r\n\0]")


@dataclass(frozen=True, slots=True)
class Reply:
    """One reply: ``Reply(550, "5.1.1", "Mailbox unknown")``; more lines in ``extra_lines``."""

    code: int
    enhanced: str | None
    text: str
    extra_lines: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not _REPLY_CODE.fullmatch(str(self.code)):
            raise LocalProtocolError(f"invalid reply code {self.code!r}")
        if self.enhanced is not None:
            # RFC 3463 section 2 and RFC 2034 section 3: the class digit repeats the
            # reply code's first digit, and only 2yz, 4yz and 5yz replies carry one.
            if not _ENHANCED_CODE.fullmatch(self.enhanced) or self.enhanced[0] != str(self.code)[0]:
                raise LocalProtocolError(f"enhanced code {self.enhanced!r} does not fit reply {self.code}")
        for line in self.lines:
            # A CR or LF in the text would let a caller (or an echoed address) inject
            # a second reply into the stream.
            if _FORBIDDEN_IN_TEXT.search(line):
                raise LocalProtocolError(f"reply text must not contain CR, LF or NUL: {line!r}")

    @property
    def lines(self) -> tuple[str, ...]:
        return (self.text, *self.extra_lines)

    @property
    def multiline(self) -> bool:
        return bool(self.extra_lines)

    @property
    def is_positive(self) -> bool:
        """2yz: the command succeeded (RFC 5321 section 4.2.1)."""
        return 200 <= self.code < 300

    @property
    def is_transient(self) -> bool:
        return 400 <= self.code < 500

    @property
    def is_permanent(self) -> bool:
        return self.code >= 500

    def to_bytes(self) -> bytes:
        """Render as ``code-text`` lines and a final ``code text`` line (RFC 5321 section 4.2.1)."""
        lines = self.lines
        out: list[str] = []
        for index, line in enumerate(lines):
            separator = " " if index == len(lines) - 1 else "-"
            if self.enhanced:
                body = f"{self.enhanced} {line}" if line else self.enhanced
            else:
                body = line
            out.append(f"{self.code}{separator}{body}\r\n")
        return "".join(out).encode("utf-8")


# --- connection ---------------------------------------------------------------------


def greeting(hostname: str, *, lmtp: bool = False) -> Reply:
    # RFC 2034 section 3: the greeting carries no enhanced status code.
    return Reply(220, None, f"{hostname} {'LMTP' if lmtp else 'ESMTP'} ready")


def no_service(hostname: str) -> Reply:
    """A greeting that refuses service; only QUIT is honoured afterwards (RFC 5321 section 3.1)."""
    return Reply(554, None, f"{hostname} no SMTP service here")


def service_unavailable(hostname: str) -> Reply:
    return Reply(421, "4.3.2", f"{hostname} Service not available, closing transmission channel")


def closing(hostname: str) -> Reply:
    return Reply(221, "2.0.0", f"{hostname} closing connection")


def too_many_errors(hostname: str) -> Reply:
    return Reply(421, "4.7.0", f"{hostname} Too many errors, closing connection")


def bare_newline() -> Reply:
    """Bare <CR> or <LF> (RFC 5321 section 2.3.8); answered like Postfix's ``smtpd_forbid_bare_newline``."""
    return Reply(550, "5.5.2", "Bare <CR> or <LF> received, closing connection")


# --- HELO / EHLO / LHLO -------------------------------------------------------------


def helo(hostname: str) -> Reply:
    return Reply(250, None, hostname)


def ehlo(hostname: str, keywords: Iterable[str]) -> Reply:
    """The EHLO/LHLO reply: our name, then one service extension per line (RFC 5321 4.1.1.1)."""
    return Reply(250, None, hostname, tuple(keywords))


# --- generic --------------------------------------------------------------------------


def ok() -> Reply:
    return Reply(250, "2.0.0", "Ok")


def help_text(commands: Iterable[str]) -> Reply:
    return Reply(214, "2.0.0", "Commands: " + " ".join(commands))


def cannot_verify() -> Reply:
    # RFC 5321 sections 3.5.3 and 7.3: 252 instead of disclosing mailboxes.
    return Reply(252, "2.5.0", "Cannot VRFY user, but will accept message and attempt delivery")


def command_unrecognized() -> Reply:
    return Reply(500, "5.5.2", "Command unrecognized")


def not_implemented() -> Reply:
    return Reply(502, "5.5.1", "Command not implemented")


def bad_sequence(text: str = "Bad sequence of commands") -> Reply:
    return Reply(503, "5.5.1", text)


def invalid_arguments(text: str) -> Reply:
    """501 with X.5.4 "Invalid command arguments" (RFC 3463)."""
    return Reply(501, "5.5.4", text)


def syntax_error(text: str) -> Reply:
    """501 with X.5.2 "Syntax error": the arguments could not be interpreted at all."""
    return Reply(501, "5.5.2", text)


def line_too_long() -> Reply:
    # RFC 5321 section 4.5.3.1.9 suggests "500 Line too long".
    return Reply(500, "5.5.2", "Line too long")


def nul_in_command() -> Reply:
    return Reply(500, "5.5.2", "NUL character not allowed in command")


# --- MAIL / RCPT ----------------------------------------------------------------------


def sender_ok() -> Reply:
    return Reply(250, "2.1.0", "Ok")


def recipient_ok() -> Reply:
    return Reply(250, "2.1.5", "Ok")


def bad_sender_address(text: str) -> Reply:
    return Reply(501, "5.1.7", text)


def bad_recipient_address(text: str) -> Reply:
    return Reply(501, "5.1.3", text)


def non_ascii_address() -> Reply:
    # RFC 6531 section 3.5.
    return Reply(553, "5.6.7", "Non-ASCII address requires SMTPUTF8")


def parameter_unrecognized(keyword: str) -> Reply:
    # RFC 5321 section 4.1.1.11.
    return Reply(555, "5.5.4", f"Unsupported parameter {keyword}")


def mailbox_unknown() -> Reply:
    return Reply(550, "5.1.1", "Mailbox unknown")


def too_many_recipients() -> Reply:
    # RFC 5321 section 4.5.3.1.10: 452, not 552.
    return Reply(452, "4.5.3", "Too many recipients")


def no_valid_recipients() -> Reply:
    # RFC 5321 section 3.3: DATA after MAIL whose RCPTs all failed.
    return Reply(554, "5.5.1", "No valid recipients")


# --- DATA / BDAT ----------------------------------------------------------------------


def start_data() -> Reply:
    # RFC 2034 section 3: 3yz replies carry no enhanced status code.
    return Reply(354, None, "End data with <CR><LF>.<CR><LF>")


def message_accepted() -> Reply:
    return Reply(250, "2.0.0", "Ok: queued")


def chunk_received(size: int) -> Reply:
    return Reply(250, "2.0.0", f"{size} octets received")


def message_too_big() -> Reply:
    # RFC 1870 section 6.
    return Reply(552, "5.3.4", "Message size exceeds fixed maximum message size")


# --- STARTTLS -------------------------------------------------------------------------


def tls_ready() -> Reply:
    return Reply(220, "2.0.0", "Ready to start TLS")


def tls_unavailable() -> Reply:
    return Reply(454, "4.7.0", "TLS not available due to temporary reason")


# --- AUTH (RFC 4954 section 6) --------------------------------------------------------


def auth_challenge(data: bytes) -> Reply:
    """334 with the base64 challenge and nothing else (RFC 4954 section 4); ``b""`` gives "334 "."""
    return Reply(334, None, base64.b64encode(data).decode("ascii"))


def auth_succeeded() -> Reply:
    return Reply(235, "2.7.0", "Authentication successful")


def auth_invalid_credentials() -> Reply:
    return Reply(535, "5.7.8", "Authentication credentials invalid")


def auth_temporary_failure() -> Reply:
    return Reply(454, "4.7.0", "Temporary authentication failure")


def auth_cancelled() -> Reply:
    return Reply(501, "5.7.0", "Authentication cancelled")


def auth_bad_base64() -> Reply:
    return Reply(501, "5.5.2", "Cannot decode base64 response")


def auth_line_too_long() -> Reply:
    return Reply(500, "5.5.6", "Authentication exchange line is too long")


def auth_mechanism_unknown() -> Reply:
    return Reply(504, "5.5.4", "Unrecognized authentication type")


def auth_encryption_required() -> Reply:
    return Reply(538, "5.7.11", "Encryption required for requested authentication mechanism")


def auth_required() -> Reply:
    return Reply(530, "5.7.0", "Authentication required")


def already_authenticated() -> Reply:
    return Reply(503, "5.5.1", "Already authenticated")
