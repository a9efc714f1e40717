"""The two ways a protocol exchange goes wrong: our misuse, or the peer's.

As in h11: ``LocalProtocolError`` means the code driving the session broke a
rule (a bug to fix); ``RemoteProtocolError`` means the client did, and carries
the reply it gets. The session catches ``RemoteProtocolError`` itself, sends the
reply and goes on, so callers only ever see ``LocalProtocolError``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .replies import Reply


class LocalProtocolError(Exception):
    """The caller used the session wrongly (answered twice, wrong state, bad reply)."""


class RemoteProtocolError(Exception):
    """The client sent something the protocol does not allow; ``reply`` is the answer."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(f"{reply.code} {reply.text}")
        self.reply = reply
