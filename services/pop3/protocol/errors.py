"""The two kinds of protocol errors (h11's split): ours and the client's."""

from __future__ import annotations

from .replies import Reply


class LocalProtocolError(Exception):
    """The caller used the session wrongly (answered a question that was not asked, ...): a bug."""


class RemoteProtocolError(Exception):
    """The client broke the protocol; `reply` is the -ERR it gets. Handled inside the session."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.text)
        self.reply = reply
