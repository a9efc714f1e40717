"""The mail transaction being built (RFC 5321 section 3.3) and the BDAT chunk being read."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from .addresses import Address
from .events import Envelope, Recipient
from .parameters import MailParameters
from .replies import Reply
from .states import State


@dataclass
class Transaction:
    """Sender, accepted recipients, and how the content is going."""

    reverse_path: Address | None
    params: MailParameters
    recipients: list[Recipient] = field(default_factory=list)
    #: Content octets received so far (after dot-unstuffing), delivered or not.
    size: int = 0
    via: Literal["DATA", "BDAT"] | None = None
    #: Set once the message is doomed (too big, line too long): the rest of the
    #: content is read and dropped, and this is the reply after its end.
    failure: Reply | None = None

    def envelope(self) -> Envelope:
        return Envelope(self.reverse_path, self.params, tuple(self.recipients))

    def admit(self, data: bytes, *, max_size: int) -> tuple[bytes, bool]:
        """Count ``data``; return the part to hand out, and whether the size limit was just crossed.

        The cut is at the limit itself, so what is handed out before the
        message fails does not depend on how the input was split into reads.
        """
        room = max_size - self.size
        self.size += len(data)
        if self.failure is not None:
            return b"", False
        if len(data) <= room:
            return data, False
        return data[: max(room, 0)], True


@dataclass
class ChunkInProgress:
    """A BDAT chunk being read. Its octets are consumed even when BDAT was refused
    (RFC 3030 section 2), or they would be read as commands."""

    size: int
    remaining: int
    last: bool
    #: Why BDAT was refused here; the reply goes out once the octets are consumed.
    refusal: Reply | None
    #: Where a refused chunk returns to.
    resume: State
