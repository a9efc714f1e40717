"""The maildrop as a session sees it: the scan listing taken at login (RFC 1939 section 5).

Message numbers are 1-based positions in that listing and never change
during the session; DELE only marks a message, RSET unmarks every mark, and
the marks are applied in the UPDATE state. A marked message may not be
referred to again (RFC 1939 section 5: "-ERR message already deleted").
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class MaildropMessage:
    uid: int  # the storage UID in the INBOX
    size: int  # octets, as stored (CRLF line ends)
    unique_id: str  # what UIDL shows: 1-70 characters 0x21-0x7E (RFC 1939 section 7)
    ref: str = ""  # the caller's handle for the content (the blob digest); opaque here


@dataclass
class Maildrop:
    messages: tuple[MaildropMessage, ...]
    deleted: set[int] = field(default_factory=set)  # message numbers
    retrieved: set[int] = field(default_factory=set)  # message numbers sent whole (RETR)

    def __post_init__(self) -> None:
        for message in self.messages:
            uid = message.unique_id
            if not 1 <= len(uid) <= 70 or any(not 0x21 <= ord(ch) <= 0x7E for ch in uid):
                raise ValueError(f"unique id {uid!r} is not 1-70 printable characters")

    def get(self, number: int) -> MaildropMessage | None:
        """The message with this number, if it exists and is not marked deleted."""
        if 1 <= number <= len(self.messages) and number not in self.deleted:
            return self.messages[number - 1]
        return None

    def exists(self, number: int) -> bool:
        return 1 <= number <= len(self.messages)

    def live(self) -> list[tuple[int, MaildropMessage]]:
        return [(n, m) for n, m in enumerate(self.messages, start=1) if n not in self.deleted]

    def stat(self) -> tuple[int, int]:
        live = self.live()
        return len(live), sum(m.size for _, m in live)

    def marked(self) -> tuple[MaildropMessage, ...]:
        return tuple(self.messages[n - 1] for n in sorted(self.deleted))

    def retrieved_kept(self) -> tuple[MaildropMessage, ...]:
        return tuple(self.messages[n - 1] for n in sorted(self.retrieved - self.deleted))
