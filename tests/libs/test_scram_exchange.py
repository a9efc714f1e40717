"""libs.auth.scram_server.ScramExchange: the one SCRAM-SHA-256 server flow smtp, pop3 and imap share.

Also the PLAIN message's authorization-identity rule (libs.auth.plain) they share.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

import pytest

from libs.auth import scram
from libs.auth.directory_client import AuthOutcome, AuthProblem
from libs.auth.plain import decode_plain
from libs.auth.scram_server import Challenge, ScramError, ScramExchange

SALT = b"salt-of-the-test"
KEYS = scram.derive_keys("secret", salt=SALT, iterations=4096)
USER = "alice@example.test"


@dataclass
class FakeDirectory:
    down: bool = False
    throttled: bool = False
    asked: list[tuple[str, str, str | None]] = field(default_factory=list)

    async def scram_params(self, username: str) -> tuple[str, int] | None:
        return None if self.down else (base64.b64encode(SALT).decode(), 4096)

    async def authenticate_scram(
        self, username: str, auth_message: str, proof: str, *, client_address: str | None
    ) -> AuthOutcome:
        self.asked.append((username, auth_message, client_address))
        if self.throttled:
            return AuthOutcome(None, AuthProblem.THROTTLED, retry_after=30.0)
        signature = scram.verify_proof(
            stored_key=KEYS.stored_key, server_key=KEYS.server_key, auth_message=auth_message, client_proof_b64=proof
        )
        return AuthOutcome(username, signature=signature) if signature else AuthOutcome(None, AuthProblem.INVALID)


async def start(exchange: ScramExchange, gs2_header: str = "n,,") -> tuple[str, str, str]:
    """Send client-first; answers (client-first-bare, server-first, client-final-without-proof)."""
    bare = f"n={USER},r=clientNonce"
    challenge = await exchange.step(f"{gs2_header}{bare}".encode())
    assert isinstance(challenge, Challenge)
    server_first = challenge.data.decode()
    assert server_first.startswith("r=clientNonce") and ",s=" in server_first and server_first.endswith(",i=4096")
    nonce = server_first.split(",", 1)[0][2:]
    channel = base64.b64encode(gs2_header.encode()).decode()
    return bare, server_first, f"c={channel},r={nonce}"


async def finish(exchange: ScramExchange, password: str, gs2_header: str = "n,,") -> Challenge | AuthOutcome:
    bare, server_first, without_proof = await start(exchange, gs2_header)
    proof, _ = scram.client_proof(
        password, salt=SALT, iterations=4096, auth_message=f"{bare},{server_first},{without_proof}"
    )
    return await exchange.step(f"{without_proof},p={proof}".encode())


async def test_the_whole_exchange_ends_with_the_account_after_the_empty_answer() -> None:
    directory = FakeDirectory()
    exchange = ScramExchange(directory, client_address="192.0.2.1")
    assert await exchange.step(None) == Challenge(b"")  # no initial response: ask for it
    bare, server_first, without_proof = await start(exchange)
    auth_message = f"{bare},{server_first},{without_proof}"
    proof, signature = scram.client_proof("secret", salt=SALT, iterations=4096, auth_message=auth_message)
    assert await exchange.step(f"{without_proof},p={proof}".encode()) == Challenge(f"v={signature}".encode())
    assert directory.asked == [(USER, auth_message, "192.0.2.1")]
    assert await exchange.step(b"") == AuthOutcome(USER)


async def test_an_authorization_identity_naming_the_user_is_bound_into_the_final_message() -> None:
    exchange = ScramExchange(FakeDirectory(), client_address=None)
    assert isinstance(await finish(exchange, "secret", gs2_header=f"n,a={USER},"), Challenge)
    assert await exchange.step(None) == AuthOutcome(USER)


async def test_a_wrong_password_is_the_directorys_refusal() -> None:
    assert await finish(ScramExchange(FakeDirectory(), client_address=None), "wrong") == AuthOutcome(
        None, AuthProblem.INVALID
    )
    throttled = await finish(ScramExchange(FakeDirectory(throttled=True), client_address=None), "secret")
    assert throttled == AuthOutcome(None, AuthProblem.THROTTLED, retry_after=30.0)


async def test_a_directory_without_the_salt_is_unavailable() -> None:
    exchange = ScramExchange(FakeDirectory(down=True), client_address=None)
    assert await exchange.step(f"n,,n={USER},r=x".encode()) == AuthOutcome(None, AuthProblem.UNAVAILABLE)


@pytest.mark.parametrize(
    "first",
    [b"y,,n=alice,r=x", b"n,,r=x", b"n,a=bob@example.test,n=alice@example.test,r=x", b"\xff\xfe"],
)
async def test_a_malformed_client_first_raises_and_ends_the_exchange(first: bytes) -> None:
    exchange = ScramExchange(FakeDirectory(), client_address=None)
    with pytest.raises(ValueError):
        await exchange.step(first)
    with pytest.raises(ScramError):
        await exchange.step(f"n,,n={USER},r=x".encode())


async def test_a_client_final_with_another_nonce_or_gs2_header_raises() -> None:
    exchange = ScramExchange(FakeDirectory(), client_address=None)
    _, _, without_proof = await start(exchange)
    with pytest.raises(ScramError):
        await exchange.step(f"{without_proof}x,p=AAAA".encode())
    exchange = ScramExchange(FakeDirectory(), client_address=None)
    _, server_first, _ = await start(exchange, gs2_header=f"n,a={USER},")
    nonce = server_first.split(",", 1)[0][2:]
    with pytest.raises(ScramError):  # c= must carry the client-first's GS2 header, here "n,a=...,"
        await exchange.step(f"c=biws,r={nonce},p=AAAA".encode())


async def test_a_non_empty_answer_to_the_server_final_message_raises() -> None:
    exchange = ScramExchange(FakeDirectory(), client_address=None)
    assert isinstance(await finish(exchange, "secret"), Challenge)
    with pytest.raises(ScramError):
        await exchange.step(b"more")


def test_plain_acting_for_another_user() -> None:
    assert not decode_plain(b"\0alice\0pw").acts_for_another
    assert not decode_plain(b"alice\0alice\0pw").acts_for_another
    assert decode_plain(b"bob\0alice\0pw").acts_for_another
