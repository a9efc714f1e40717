"""POP3 replies: "+OK" / "-ERR" status lines (RFC 1939 section 3), with the response
codes of RFC 2449 section 8 and RFC 3206, and multi-line replies.

A multi-line reply is the status line, then each line with a leading "."
doubled (byte-stuffing, RFC 1939 section 3), then "." alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class RespCode(StrEnum):
    """Extended response codes (RFC 2449 section 8, RFC 3206), sent as "-ERR [CODE] text"."""

    IN_USE = "IN-USE"  # the maildrop is locked by another session (RFC 2449 8.1.2)
    LOGIN_DELAY = "LOGIN-DELAY"  # may not log in now; try again later (RFC 2449 8.1.1)
    SYS_TEMP = "SYS/TEMP"  # a temporary problem on our side (RFC 3206 section 4)
    SYS_PERM = "SYS/PERM"  # a permanent problem on our side (RFC 3206 section 4)
    AUTH = "AUTH"  # the credentials are the problem (RFC 3206 section 5)


@dataclass(frozen=True, slots=True)
class Reply:
    ok: bool
    text: str
    code: RespCode | None = None
    lines: tuple[str, ...] | None = None  # a multi-line reply's body (without stuffing)

    def to_bytes(self) -> bytes:
        status = "+OK" if self.ok else "-ERR"
        head = f"{status} [{self.code}]" if self.code else status
        out = bytearray(f"{head} {self.text}\r\n".encode() if self.text else f"{head}\r\n".encode())
        if self.lines is not None:
            for line in self.lines:
                out += (("." + line) if line.startswith(".") else line).encode() + b"\r\n"
            out += b".\r\n"
        return bytes(out)


def ok(text: str = "", *, lines: tuple[str, ...] | None = None) -> Reply:
    return Reply(True, text, lines=lines)


def err(text: str, code: RespCode | None = None) -> Reply:
    return Reply(False, text, code)


# --- standard replies ------------------------------------------------------------------


def greeting(hostname: str) -> Reply:
    return ok(f"{hostname} POP3 server ready")


def signing_off(hostname: str, deleted: int | None = None) -> Reply:
    suffix = f" ({deleted} message{'s' if deleted != 1 else ''} deleted)" if deleted is not None else ""
    return ok(f"{hostname} POP3 server signing off{suffix}")


def unknown_command() -> Reply:
    return err("Unknown command")


def wrong_state() -> Reply:
    return err("Command not valid in this state")


def syntax_error(usage: str) -> Reply:
    return err(f"Syntax error, usage: {usage}")


def line_too_long() -> Reply:
    return err("Line too long")


def bad_characters() -> Reply:
    return err("Invalid characters in command")


def no_such_message() -> Reply:
    return err("No such message")


def already_deleted(number: int) -> Reply:
    return err(f"Message {number} already deleted")


def too_many_errors() -> Reply:
    return err("Too many errors, closing connection")


def too_many_auth_failures() -> Reply:
    return err("Too many authentication failures, closing connection", RespCode.AUTH)


def plaintext_disallowed() -> Reply:
    return err("Plaintext authentication disallowed on non-secure connections; use STLS first", RespCode.AUTH)


def user_first() -> Reply:
    return err("Send USER first")


def auth_failed() -> Reply:
    return err("Authentication failed", RespCode.AUTH)


def auth_cancelled() -> Reply:
    return err("Authentication cancelled")


def auth_bad_base64() -> Reply:
    return err("Invalid base64 data")


def auth_mechanism_unknown() -> Reply:
    return err("Unsupported authentication mechanism")


def auth_throttled() -> Reply:
    return err("Too many failed logins, try again later", RespCode.LOGIN_DELAY)


def temporary_failure(text: str = "Temporary system problem, try again later") -> Reply:
    return err(text, RespCode.SYS_TEMP)


def in_use() -> Reply:
    return err("Maildrop already locked by another session", RespCode.IN_USE)


def stls_not_available() -> Reply:
    return err("STLS not available")


def already_tls() -> Reply:
    return err("Already using TLS")


def update_failed() -> Reply:
    # RFC 1939 section 6: "-ERR some deleted messages not removed".
    return err("Some deleted messages not removed", RespCode.SYS_TEMP)
