"""Driving a sans-I/O protocol core in tests, without a socket.

The SMTP and POP3 cores share one shape: `receive_data(bytes)`, then
`next_event()` until it returns the core's NEED_DATA, with the answers the
service layer gives queued back into the session, then `data_to_send()`.
`CoreDriver` is that loop with a fake service (`respond`), and `CoreChannel`
lets the conversation scripts (libs/testing/conversation.py) talk to it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class CoreDriver:
    """The transport loop without a socket: feed bytes, let `respond` answer each event, collect output."""

    def __init__(
        self,
        session: Any,
        respond: Callable[[Any, Any], bytes],
        *,
        need_data: object,
        closing: tuple[type, ...],
    ) -> None:
        self.session = session
        self._respond = respond
        self._need_data = need_data
        self._closing = closing
        self.events: list[Any] = []
        self.output = bytearray()
        self.closed = False
        self.discarded_at_tls = 0

    def connect(self) -> CoreDriver:
        self._run()
        return self

    def feed(self, data: bytes) -> None:
        if self.closed:
            return
        self.session.receive_data(data)
        self._run()

    def start_tls(self) -> None:
        self.discarded_at_tls = self.session.start_tls()
        self._run()

    def take_output(self) -> bytes:
        out = bytes(self.output)
        self.output.clear()
        return out

    def _run(self) -> None:
        while (event := self.session.next_event()) is not self._need_data:
            self.events.append(event)
            self.output += self._respond(self.session, event)
            if isinstance(event, self._closing):
                self.closed = True
        self.output += self.session.data_to_send()


class CoreChannel:
    """A conversation ``Channel`` whose server is a core behind a `CoreDriver`."""

    def __init__(self, transport: CoreDriver) -> None:
        self.transport = transport
        self._lines: list[str] = []

    def send(self, data: bytes) -> None:
        self.transport.feed(data)

    def read_line(self) -> str | None:
        self._collect()
        return self._lines.pop(0) if self._lines else None

    def start_tls(self) -> None:
        self.transport.start_tls()

    @property
    def closed(self) -> bool:
        return self.transport.closed

    def leftover(self) -> list[str]:
        self._collect()
        return list(self._lines)

    def _collect(self) -> None:
        output = self.transport.take_output()
        if output:
            text = output.decode("utf-8", "replace")
            assert text.endswith("\r\n"), f"reply not terminated by CRLF: {text!r}"
            self._lines.extend(text[:-2].split("\r\n"))
