"""A fixed world and an in-memory transport that drive the sans-I/O POP3 session in tests.

``FakeBackend`` answers the session's questions the way the service does,
from a fixed world: alice@example.test (password "secret", PLAIN and a real
SCRAM-SHA-256 exchange) has three messages; locked@example.test's maildrop
is in use by another session; throttled@example.test is refused by the
directory's throttle. ``FakeTransport`` is the transport's read/feed/answer/
write loop without a socket; RETR and TOP stream the content in small pieces
through ``MessageEncoder``, as the service streams a blob.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

from libs.auth import scram
from libs.auth.plain import decode_plain
from libs.testing.sansio import CoreChannel, CoreDriver
from services.pop3.protocol import (
    NEED_DATA,
    AuthResponse,
    AuthStarted,
    ConnectionLost,
    Event,
    Limits,
    Maildrop,
    MaildropMessage,
    MessageEncoder,
    MessageRequested,
    PasswordReceived,
    QuitReceived,
    Session,
    SessionConfig,
    SessionTerminated,
    StartTlsRequested,
    UpdateRequested,
    replies,
)

HOSTNAME = "pop.example.test"
USERS = {"alice@example.test": "secret", "locked@example.test": "secret", "throttled@example.test": "secret"}
UIDVALIDITY = 1700
SCRAM_SALT = b"parley-test-salt"
SCRAM_ITERATIONS = 4096
SCRAM_SERVER_NONCE = "srvNonce0123"
PIECE = 7  # content is streamed in pieces this small, so line ends and dots straddle them

MESSAGES: tuple[bytes, ...] = (
    b"From: bob@example.test\r\nSubject: one\r\n\r\nHello Alice\r\n",
    b"Subject: dots\r\n\r\n.hidden\r\n..double\r\n.\r\nend\r\n",
    b"Subject: bare\n\nline1\nline2\rline3\nno newline at the end",
)


def make_maildrop() -> Maildrop:
    messages = tuple(
        MaildropMessage(uid=uid, size=len(body), unique_id=f"{UIDVALIDITY}.{uid}", ref=str(index))
        for index, (uid, body) in enumerate(zip((4, 7, 9), MESSAGES, strict=True))
    )
    return Maildrop(messages)


@dataclass
class FakeBackend:
    messages: tuple[bytes, ...] = MESSAGES
    removed: list[int] = field(default_factory=list)  # UIDs removed at UPDATE
    seen: list[int] = field(default_factory=list)  # UIDs retrieved whole
    _sasl: dict[str, str] = field(default_factory=dict)

    def respond(self, session: Session, event: Event) -> bytes:
        match event:
            case PasswordReceived(username=username, password=password):
                return self._login(session, username, password)
            case AuthStarted() | AuthResponse():
                return self._authenticate(session, event)
            case StartTlsRequested():
                return session.accept_stls()
            case MessageRequested(message=message, lines=lines):
                out = session.send_message()
                encoder = MessageEncoder(body_lines=lines)
                body = self.messages[int(message.ref)]
                for start in range(0, len(body), PIECE):
                    out += encoder.feed(body[start : start + PIECE])
                    if encoder.done:
                        break
                return out + encoder.finish()
            case UpdateRequested(deleted=deleted, retrieved=retrieved):
                self.removed.extend(m.uid for m in deleted)
                self.seen.extend(m.uid for m in retrieved)
                return session.update_done(len(deleted))
        return b""

    def _login(self, session: Session, username: str, password: str) -> bytes:
        if USERS.get(username) != password:
            return session.login_failed()
        if username == "throttled@example.test":
            return session.login_failed(replies.auth_throttled(), counts=False)
        if username == "locked@example.test":
            return session.login_failed(replies.in_use(), counts=False)
        return session.login_succeeded(username, make_maildrop())

    def _authenticate(self, session: Session, event: AuthStarted | AuthResponse) -> bytes:
        data = event.initial_response if isinstance(event, AuthStarted) else event.data
        if isinstance(event, AuthStarted):
            self._sasl.clear()
        if event.mechanism == "PLAIN":
            if data is None:
                return session.auth_challenge(b"")
            try:
                credentials = decode_plain(data)
            except ValueError:
                return session.login_failed()
            return self._login(session, credentials.username, credentials.password)
        return self._scram_step(session, data)

    def _scram_step(self, session: Session, data: bytes | None) -> bytes:
        if data is None:
            return session.auth_challenge(b"")
        if "client_first_bare" not in self._sasl:
            bare = data.decode()[3:]
            fields = dict(item.split("=", 1) for item in bare.split(","))
            server_first = f"r={fields['r']}{SCRAM_SERVER_NONCE},s={base64.b64encode(SCRAM_SALT).decode()}"
            server_first += f",i={SCRAM_ITERATIONS}"
            self._sasl.update(client_first_bare=bare, server_first=server_first, username=fields["n"])
            return session.auth_challenge(server_first.encode())
        if "verified" in self._sasl:
            if data != b"":
                return session.login_failed()
            return session.login_succeeded(self._sasl["username"], make_maildrop())
        without_proof, _, proof = data.decode().rpartition(",p=")
        auth_message = f"{self._sasl['client_first_bare']},{self._sasl['server_first']},{without_proof}"
        keys = scram.derive_keys(USERS.get(self._sasl["username"], "?"), salt=SCRAM_SALT, iterations=SCRAM_ITERATIONS)
        signature = scram.verify_proof(
            stored_key=keys.stored_key, server_key=keys.server_key, auth_message=auth_message, client_proof_b64=proof
        )
        if signature is None:
            return session.login_failed()
        self._sasl["verified"] = "yes"
        return session.auth_challenge(f"v={signature}".encode())


CLOSING_EVENTS = (QuitReceived, SessionTerminated, ConnectionLost)


class FakeTransport(CoreDriver):
    """The transport loop without a socket: feed bytes, let the fake backend answer, collect output."""

    def __init__(self, config: SessionConfig, backend: FakeBackend | None = None) -> None:
        self.backend = backend or FakeBackend()
        super().__init__(
            Session(config), self.backend.respond, need_data=NEED_DATA, closing=(*CLOSING_EVENTS, UpdateRequested)
        )

    def connect(self) -> FakeTransport:
        super().connect()
        return self


def config_from_options(options: dict[str, str]) -> SessionConfig:
    """The listener a conversation script asks for with its ``OPTION:`` lines."""
    known = {"starttls", "implicit_tls", "plaintext", "max_errors", "max_auth_failures", "max_command_line"}
    unknown = set(options) - known
    if unknown:
        raise ValueError(f"unknown script options: {sorted(unknown)}")
    limit_names = ("max_errors", "max_auth_failures", "max_command_line")
    limits = Limits(**{name: int(options[name]) for name in limit_names if name in options})
    return SessionConfig(
        hostname=HOSTNAME,
        limits=limits,
        tls_available="starttls" in options,
        tls_active="implicit_tls" in options,
        plaintext_auth_allowed="plaintext" in options,
    )


class InMemoryChannel(CoreChannel):
    """A conversation ``Channel`` whose server is the sans-I/O session behind ``FakeTransport``."""

    def __init__(self, config: SessionConfig, backend: FakeBackend | None = None) -> None:
        super().__init__(FakeTransport(config, backend).connect())


def run(config: SessionConfig, *chunks: bytes, backend: FakeBackend | None = None) -> FakeTransport:
    transport = FakeTransport(config, backend).connect()
    for chunk in chunks:
        if chunk:
            transport.feed(chunk)
    return transport


def logged_in(config: SessionConfig | None = None, backend: FakeBackend | None = None) -> FakeTransport:
    """A session in TRANSACTION as alice (plaintext allowed), output so far taken."""
    config = config or SessionConfig(hostname=HOSTNAME, plaintext_auth_allowed=True)
    transport = run(config, b"USER alice@example.test\r\nPASS secret\r\n", backend=backend)
    assert transport.take_output().endswith(b"+OK Logged in, maildrop has 3 messages (151 octets)\r\n")
    return transport
