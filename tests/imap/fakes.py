"""A session driven in memory: bytes in, answers from a fake service, bytes out.

``Exchange.send(data)`` feeds client bytes (in one piece or split), answers
every question the way a simple service layer would, and returns the bytes
the server wrote. Events are recorded in ``events`` (APPEND chunks joined in
``appended``), so tests can assert both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from services.imap.protocol import (
    NEED_DATA,
    AppendAborted,
    AppendDataChunk,
    AppendDataStarted,
    Authenticate,
    AuthResponse,
    CommandReceived,
    Event,
    GreetingNeeded,
    IdleDone,
    Limits,
    Login,
    Select,
    Session,
    SessionConfig,
    responses,
)
from services.imap.protocol.commands import Append, Idle

Answer = Callable[[Session, Event], bytes]


def make_config(**kwargs: object) -> SessionConfig:
    limit_names = set(Limits.__dataclass_fields__)
    limits = {k: kwargs.pop(k) for k in list(kwargs) if k in limit_names}
    kwargs.setdefault("tls_active", True)
    return SessionConfig(hostname="imap.example.test", limits=Limits(**limits), **kwargs)  # type: ignore[arg-type]


class Exchange:
    def __init__(
        self, config: SessionConfig | None = None, *, answer: Answer | None = None, greet: bool = True
    ) -> None:
        self.session = Session(config or make_config())
        self.events: list[Event] = []
        self.appended: dict[int, bytearray] = {}
        self.aborted = 0
        self.answer = answer or default_answer
        self.greeting = self.send(b"") if greet else b""

    def send(self, data: bytes, *, pieces: Iterable[int] | None = None) -> bytes:
        out = bytearray()
        if pieces is None:
            chunks = [data] if data else []
        else:
            chunks, start = [], 0
            for size in pieces:
                chunks.append(data[start : start + size])
                start += size
            chunks.append(data[start:])
        for chunk in chunks or [b""]:
            if chunk:
                self.session.receive_data(chunk)
            out += self._drain()
        return bytes(out)

    def close(self) -> bytes:
        self.session.receive_data(b"")
        return self._drain()

    def _drain(self) -> bytes:
        out = bytearray()
        while True:
            event = self.session.next_event()
            if event is NEED_DATA:
                break
            self.events.append(event)
            if isinstance(event, AppendDataStarted):
                self.appended[event.index] = bytearray()
            elif isinstance(event, AppendDataChunk):
                self.appended[event.index] += event.data
            elif isinstance(event, AppendAborted):
                self.aborted += 1
            elif isinstance(event, GreetingNeeded):
                out += self.session.accept()
            elif isinstance(event, CommandReceived | AuthResponse | IdleDone):
                # Answer methods return what is queued so far (as the SMTP core's do).
                out += self.answer(self.session, event)
            out += self.session.data_to_send()
        out += self.session.data_to_send()
        return bytes(out)

    def commands(self) -> list[object]:
        return [e.command for e in self.events if isinstance(e, CommandReceived)]


def default_answer(session: Session, event: Event) -> bytes:
    """A tiny service: alice/secret may log in; SELECT of "Missing" fails; the rest succeeds."""
    if isinstance(event, IdleDone):
        return b"" if event.cancelled else session.ok()
    if isinstance(event, AuthResponse):
        return _authenticate(session, event.data)
    assert isinstance(event, CommandReceived)
    command = event.command
    if isinstance(command, Login):
        if (command.username, command.password) == ("alice", "secret"):
            return session.login_succeeded("alice@example.test")
        return session.no("Invalid credentials", responses.code("AUTHENTICATIONFAILED"))
    if isinstance(command, Authenticate):
        if command.initial_response is None:
            return session.auth_challenge(b"")
        return _authenticate(session, command.initial_response)
    if isinstance(command, Select):
        if command.mailbox == "Missing":
            return session.no("No such mailbox", responses.code("NONEXISTENT"))
        out = session.untagged(
            responses.exists(172),
            responses.flags(["\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft"]),
            responses.ok("UIDs valid", code=responses.code("UIDVALIDITY", 3857529045)),
            responses.ok("Predicted next UID", code=responses.code("UIDNEXT", 4392)),
        )
        code = responses.code("READ-ONLY" if command.read_only else "READ-WRITE")
        return out + session.ok(f"{command.name} completed", code)
    if isinstance(command, Idle):
        return session.untagged(responses.exists(173))
    if isinstance(command, Append):
        return session.ok("APPEND completed", responses.code("APPENDUID", "38505 3955"))
    return session.ok()


def _authenticate(session: Session, data: bytes) -> bytes:
    if data == b"\0alice\0secret":
        return session.login_succeeded("alice@example.test")
    return session.no("Authentication failed", responses.code("AUTHENTICATIONFAILED"))


def logged_in(config: SessionConfig | None = None, *, answer: Answer | None = None) -> Exchange:
    exchange = Exchange(config, answer=answer)
    out = exchange.send(b"L1 LOGIN alice secret\r\n")
    assert out.startswith(b"L1 OK [CAPABILITY "), out
    return exchange


def selected(config: SessionConfig | None = None, *, answer: Answer | None = None) -> Exchange:
    exchange = logged_in(config, answer=answer)
    out = exchange.send(b"S1 SELECT INBOX\r\n")
    assert out.endswith(b"S1 OK [READ-WRITE] SELECT completed\r\n"), out
    return exchange
