"""The service's SASL steps against a fake directory: PLAIN, SCRAM-SHA-256, refusals."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

from libs.auth import scram
from libs.auth.directory_client import AuthOutcome, AuthProblem
from services.pop3._sasl import Challenge, SaslExchange
from services.pop3.policy import refusal
from services.pop3.protocol import AuthResponse, AuthStarted

SALT = b"salt-of-the-test"
KEYS = scram.derive_keys("secret", salt=SALT, iterations=4096)


@dataclass
class FakeDirectory:
    calls: list[str] = field(default_factory=list)
    down: bool = False

    async def authenticate(self, username: str, password: str, *, client_address: str | None) -> AuthOutcome:
        self.calls.append(f"plain {username}")
        if password == "secret":
            return AuthOutcome(username)
        return AuthOutcome(None, AuthProblem.INVALID)

    async def scram_params(self, username: str) -> tuple[str, int] | None:
        return None if self.down else (base64.b64encode(SALT).decode(), 4096)

    async def authenticate_scram(
        self, username: str, auth_message: str, proof: str, *, client_address: str | None
    ) -> AuthOutcome:
        signature = scram.verify_proof(
            stored_key=KEYS.stored_key, server_key=KEYS.server_key, auth_message=auth_message, client_proof_b64=proof
        )
        return AuthOutcome(username, signature=signature) if signature else AuthOutcome(None, AuthProblem.INVALID)


def exchange(directory: FakeDirectory | None = None) -> SaslExchange:
    return SaslExchange(directory or FakeDirectory(), client_address="192.0.2.1")  # type: ignore[arg-type]


async def test_plain_with_and_without_initial_response() -> None:
    sasl = exchange()
    assert await sasl.step(AuthStarted("PLAIN", None)) == Challenge(b"")
    outcome = await sasl.step(AuthResponse("PLAIN", b"\0alice@example.test\0secret"))
    assert outcome == AuthOutcome("alice@example.test")
    assert await exchange().step(AuthStarted("PLAIN", b"\0alice@example.test\0wrong")) == AuthOutcome(
        None, AuthProblem.INVALID
    )


async def test_plain_for_someone_else_or_malformed_is_refused_without_asking() -> None:
    directory = FakeDirectory()
    sasl = exchange(directory)
    refused = AuthOutcome(None, AuthProblem.INVALID)
    assert await sasl.step(AuthStarted("PLAIN", b"bob@example.test\0alice@example.test\0secret")) == refused
    assert await sasl.step(AuthStarted("PLAIN", b"no separators")) == refused
    assert directory.calls == []


async def test_scram_sha_256_round_trip() -> None:
    sasl = exchange()
    first_bare = "n=alice@example.test,r=abc123"
    challenge = await sasl.step(AuthStarted("SCRAM-SHA-256", b"n,," + first_bare.encode()))
    assert isinstance(challenge, Challenge)
    server_first = challenge.data.decode()
    nonce = server_first.split(",")[0][2:]
    without_proof = f"c=biws,r={nonce}"
    proof, signature = scram.client_proof(
        "secret", salt=SALT, iterations=4096, auth_message=f"{first_bare},{server_first},{without_proof}"
    )
    final = await sasl.step(AuthResponse("SCRAM-SHA-256", f"{without_proof},p={proof}".encode()))
    assert final == Challenge(f"v={signature}".encode())
    assert await sasl.step(AuthResponse("SCRAM-SHA-256", b"")) == AuthOutcome("alice@example.test")


async def test_scram_with_a_wrong_nonce_or_a_down_directory() -> None:
    sasl = exchange()
    await sasl.step(AuthStarted("SCRAM-SHA-256", b"n,,n=alice@example.test,r=abc"))
    outcome = await sasl.step(AuthResponse("SCRAM-SHA-256", b"c=biws,r=other,p=AAAA"))
    assert outcome == AuthOutcome(None, AuthProblem.INVALID)
    down = exchange(FakeDirectory(down=True))
    assert await down.step(AuthStarted("SCRAM-SHA-256", b"n,,n=a@b.c,r=x")) == AuthOutcome(
        None, AuthProblem.UNAVAILABLE
    )


def test_refusals_map_to_response_codes() -> None:
    invalid = refusal(AuthOutcome(None, AuthProblem.INVALID))
    assert invalid.reply.to_bytes() == b"-ERR [AUTH] Authentication failed\r\n" and invalid.counts
    throttled = refusal(AuthOutcome(None, AuthProblem.THROTTLED))
    assert throttled.reply.to_bytes().startswith(b"-ERR [LOGIN-DELAY]") and not throttled.counts
    unavailable = refusal(AuthOutcome(None, AuthProblem.UNAVAILABLE))
    assert unavailable.reply.to_bytes().startswith(b"-ERR [SYS/TEMP]") and not unavailable.counts
