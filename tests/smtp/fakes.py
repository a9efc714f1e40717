"""A tiny policy and an in-memory transport that drive the sans-I/O SMTP session in tests.

``FakePolicy`` answers the session's questions the way the real policy will,
from a fixed world: recipients in example.test exist (except
``full@example.test``, whose mailbox is full at delivery time), everyone else
gets 550 5.1.1; alice@example.test's password is "secret" (PLAIN, LOGIN and a
real SCRAM-SHA-256 exchange). ``FakeTransport`` is the read/feed/answer/write
loop the asyncio transport will run, minus the socket.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field, replace

from libs.auth import scram
from libs.testing.sansio import CoreChannel, CoreDriver
from services.smtp.protocol import (
    LOGIN_PASSWORD_CHALLENGE,
    LOGIN_USERNAME_CHALLENGE,
    NEED_DATA,
    AuthResponse,
    AuthStarted,
    BareNewlinePolicy,
    ConnectionLost,
    DataStarted,
    Envelope,
    Event,
    Limits,
    MessageAborted,
    MessageComplete,
    MessageDataChunk,
    Question,
    QuitReceived,
    RecipientReceived,
    Reply,
    Session,
    SessionConfig,
    SessionTerminated,
    decode_plain,
    replies,
)

LOCAL_DOMAIN = "example.test"
USERS = {"alice@example.test": "secret"}
FULL_MAILBOX = "full@example.test"
SCRAM_SALT = b"parley-test-salt"
SCRAM_ITERATIONS = 4096
SCRAM_SERVER_NONCE = "srvNonce0123"


@dataclass
class DeliveredMessage:
    envelope: Envelope
    content: bytes


@dataclass
class FakePolicy:
    delivered: list[DeliveredMessage] = field(default_factory=list)
    _content: bytearray = field(default_factory=bytearray)
    _sasl: dict[str, str] = field(default_factory=dict)

    def respond(self, session: Session, event: Event) -> bytes:
        """Answer ``event`` if it is a question; return the bytes the session wants sent."""
        if isinstance(event, RecipientReceived):
            domain = (event.address.domain or LOCAL_DOMAIN).lower()
            return session.accept() if domain == LOCAL_DOMAIN else session.reply(replies.mailbox_unknown())
        if isinstance(event, DataStarted):
            self._content.clear()
        elif isinstance(event, MessageDataChunk):
            self._content += event.data
        elif isinstance(event, MessageAborted):
            self._content.clear()
        elif isinstance(event, MessageComplete):
            return self._deliver(session, event)
        elif isinstance(event, AuthStarted | AuthResponse):
            return self._authenticate(session, event)
        elif isinstance(event, Question):
            return session.accept()
        return b""

    def _deliver(self, session: Session, event: MessageComplete) -> bytes:
        self.delivered.append(DeliveredMessage(event.envelope, bytes(self._content)))
        if not session.config.lmtp:
            return session.accept()
        full = Reply(452, "4.2.2", "Mailbox full")
        ok = Reply(250, "2.0.0", "Delivered")
        return session.reply_each(
            [full if r.address.text.lower() == FULL_MAILBOX else ok for r in event.envelope.recipients]
        )

    def _authenticate(self, session: Session, event: AuthStarted | AuthResponse) -> bytes:
        mechanism = event.mechanism
        data = event.initial_response if isinstance(event, AuthStarted) else event.data
        if isinstance(event, AuthStarted):
            self._sasl.clear()
        if mechanism == "PLAIN":
            if data is None:
                return session.auth_challenge(b"")
            try:
                credentials = decode_plain(data)
            except ValueError:
                return session.auth_failed(Reply(501, "5.5.2", "Malformed PLAIN response"))
            return self._check(session, credentials.username, credentials.password)
        if mechanism == "LOGIN":
            if data is None:
                return session.auth_challenge(LOGIN_USERNAME_CHALLENGE)
            if "username" not in self._sasl:
                self._sasl["username"] = data.decode("utf-8", "replace")
                return session.auth_challenge(LOGIN_PASSWORD_CHALLENGE)
            return self._check(session, self._sasl["username"], data.decode("utf-8", "replace"))
        if mechanism == "SCRAM-SHA-256":
            return self._scram_step(session, data)
        return session.auth_failed(replies.auth_mechanism_unknown())

    def _scram_step(self, session: Session, data: bytes | None) -> bytes:
        """A real RFC 5802 server: the session only carries the opaque steps."""
        if data is None:
            return session.auth_challenge(b"")
        if "client_first_bare" not in self._sasl:
            text = data.decode()
            if not text.startswith("n,,"):
                return session.auth_failed()
            bare = text[3:]
            fields = dict(item.split("=", 1) for item in bare.split(","))
            server_first = f"r={fields['r']}{SCRAM_SERVER_NONCE},s={base64.b64encode(SCRAM_SALT).decode()}"
            server_first += f",i={SCRAM_ITERATIONS}"
            self._sasl.update(client_first_bare=bare, server_first=server_first, username=fields["n"])
            return session.auth_challenge(server_first.encode())
        if "verified" in self._sasl:
            # The client's empty answer to the server-final challenge (RFC 4954 has no
            # room for data in 235, so it travels in a 334).
            return session.auth_succeeded(self._sasl["username"]) if data == b"" else session.auth_failed()
        final = data.decode()
        without_proof, _, proof = final.rpartition(",p=")
        auth_message = f"{self._sasl['client_first_bare']},{self._sasl['server_first']},{without_proof}"
        password = USERS.get(self._sasl["username"])
        if password is None:
            return session.auth_failed()
        keys = scram.derive_keys(password, salt=SCRAM_SALT, iterations=SCRAM_ITERATIONS)
        signature = scram.verify_proof(
            stored_key=keys.stored_key, server_key=keys.server_key, auth_message=auth_message, client_proof_b64=proof
        )
        if signature is None:
            return session.auth_failed()
        self._sasl["verified"] = "yes"
        return session.auth_challenge(f"v={signature}".encode())

    @staticmethod
    def _check(session: Session, username: str, password: str) -> bytes:
        if USERS.get(username) == password:
            return session.auth_succeeded(username)
        return session.auth_failed()


CLOSING_EVENTS = (QuitReceived, SessionTerminated, ConnectionLost)


class FakeTransport(CoreDriver):
    """The transport loop without a socket: feed bytes, let the fake policy answer, collect output."""

    def __init__(self, config: SessionConfig, policy: FakePolicy | None = None) -> None:
        self.policy = policy or FakePolicy()
        super().__init__(Session(config), self.policy.respond, need_data=NEED_DATA, closing=CLOSING_EVENTS)

    def connect(self) -> FakeTransport:
        super().connect()
        return self


HOSTNAME = "mx.example.test"
AUTH_MECHANISMS = ("PLAIN", "LOGIN", "SCRAM-SHA-256")
_LIMIT_OPTIONS = ("max_command_line", "max_text_line", "max_message_size", "max_recipients", "max_errors")


def config_from_options(options: dict[str, str]) -> SessionConfig:
    """The listener a conversation script asks for with its ``OPTION:`` lines."""
    known = {"lmtp", "starttls", "implicit_tls", "auth", "auth_plaintext", "auth_required", "bare_newline"}
    unknown = set(options) - known - set(_LIMIT_OPTIONS)
    if unknown:
        raise ValueError(f"unknown script options: {sorted(unknown)}")
    limits = Limits(**{name: int(options[name]) for name in _LIMIT_OPTIONS if name in options})
    return SessionConfig(
        hostname=HOSTNAME,
        lmtp="lmtp" in options,
        limits=limits,
        tls_available="starttls" in options,
        tls_active="implicit_tls" in options,
        auth_mechanisms=AUTH_MECHANISMS if "auth" in options else (),
        auth_requires_tls="auth_plaintext" not in options,
        auth_required="auth_required" in options,
        bare_newline=BareNewlinePolicy(options.get("bare_newline", "reject")),
    )


class InMemoryChannel(CoreChannel):
    """A conversation ``Channel`` whose server is the sans-I/O session behind ``FakeTransport``."""

    def __init__(self, config: SessionConfig, policy: FakePolicy | None = None) -> None:
        super().__init__(FakeTransport(config, policy).connect())


def make_config(**overrides: object) -> SessionConfig:
    """A listener config for tests: ``make_config(lmtp=True, max_recipients=3)``."""
    limit_overrides = {name: overrides.pop(name) for name in _LIMIT_OPTIONS if name in overrides}
    config = SessionConfig(hostname=HOSTNAME, limits=Limits(**limit_overrides))  # type: ignore[arg-type]
    return replace(config, **overrides)  # type: ignore[arg-type]


def run(config: SessionConfig, *chunks: bytes, policy: FakePolicy | None = None) -> FakeTransport:
    """Connect, then feed ``chunks`` one by one (empty ones skipped: ``b""`` would mean EOF)."""
    transport = FakeTransport(config, policy).connect()
    for chunk in chunks:
        if chunk:
            transport.feed(chunk)
    return transport


def merged(events: list[Event]) -> list[Event]:
    """Events with adjacent content chunks joined: how content is cut depends on the reads."""
    out: list[Event] = []
    for event in events:
        if isinstance(event, MessageDataChunk) and out and isinstance(out[-1], MessageDataChunk):
            out[-1] = MessageDataChunk(out[-1].data + event.data)
        else:
            out.append(event)
    return out
