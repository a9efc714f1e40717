"""Password and SCRAM checks through the directory, for the protocol front ends.

Secrets stay in the directory (docs/architecture.md): a front end sends what
the client proved to `directory.rpc.auth` and gets a verdict; SCRAM's salt
and iteration count come from `directory.rpc.scram_params`. This client
returns a protocol-neutral `AuthOutcome`; each front end maps it to its own
reply (SMTP 535/454, POP3 `-ERR [AUTH]` / `[LOGIN-DELAY]` / `[SYS/TEMP]`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from libs.bus import Bus
from libs.contracts import directory
from libs.contracts.errors import ServiceError
from libs.log import get_logger

_log = get_logger()

MAX_USERNAME = 512
MAX_PASSWORD = 1024
MAX_AUTH_MESSAGE = 8192
MAX_PROOF = 512


class AuthProblem(StrEnum):
    INVALID = "invalid"  # wrong credentials (or unknown user: never told apart)
    THROTTLED = "throttled"  # too many failures from this client or for this user
    DISABLED = "disabled"  # the account exists but may not log in
    UNAVAILABLE = "unavailable"  # the directory did not answer: a temporary failure


@dataclass(frozen=True)
class AuthOutcome:
    account: str | None  # the canonical account on success
    problem: AuthProblem | None = None
    signature: str | None = None  # SCRAM ServerSignature, base64
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        return self.account is not None


class DirectoryAuth:
    """Asks the directory on behalf of one protocol (`protocol` goes into every request)."""

    def __init__(self, bus: Bus, *, protocol: str) -> None:
        self.bus = bus
        self.protocol = protocol

    async def authenticate(self, username: str, password: str, *, client_address: str | None) -> AuthOutcome:
        if not username or not password or len(username) > MAX_USERNAME or len(password) > MAX_PASSWORD:
            return AuthOutcome(None, AuthProblem.INVALID)
        request = directory.AuthRequest(
            mechanism=directory.Mechanism.PLAIN,
            username=username,
            password=password,
            client_address=_address(client_address),
            protocol=self.protocol,
        )
        return await self._ask(request)

    async def scram_params(self, username: str) -> tuple[str, int] | None:
        """Salt (base64) and iterations for the server-first message; None when the directory is down."""
        try:
            answer = await self.bus.request(
                directory.RPC_SCRAM_PARAMS,
                directory.ScramParamsRequest(username=username[:MAX_USERNAME]),
                directory.ScramParamsReply,
            )
        except ServiceError as exc:
            _log.warning("auth.directory_failed", protocol=self.protocol, error=str(exc))
            return None
        return answer.salt, answer.iterations

    async def authenticate_scram(
        self, username: str, auth_message: str, proof: str, *, client_address: str | None
    ) -> AuthOutcome:
        if len(username) > MAX_USERNAME or len(auth_message) > MAX_AUTH_MESSAGE or len(proof) > MAX_PROOF:
            return AuthOutcome(None, AuthProblem.INVALID)
        request = directory.AuthRequest(
            mechanism=directory.Mechanism.SCRAM_SHA_256,
            username=username,
            scram=directory.ScramProof(auth_message=auth_message, client_proof=proof),
            client_address=_address(client_address),
            protocol=self.protocol,
        )
        return await self._ask(request)

    async def _ask(self, request: directory.AuthRequest) -> AuthOutcome:
        try:
            answer = await self.bus.request(directory.RPC_AUTH, request, directory.AuthReply)
        except ServiceError as exc:
            _log.warning("auth.directory_failed", protocol=self.protocol, error=str(exc))
            return AuthOutcome(None, AuthProblem.UNAVAILABLE)
        if answer.ok and answer.account:
            return AuthOutcome(answer.account, signature=answer.server_signature)
        problem = {
            directory.AuthFailure.THROTTLED: AuthProblem.THROTTLED,
            directory.AuthFailure.DISABLED: AuthProblem.DISABLED,
        }.get(answer.failure, AuthProblem.INVALID)  # type: ignore[arg-type]
        return AuthOutcome(None, problem, retry_after=answer.retry_after)


def _address(client_address: str | None) -> str | None:
    return client_address[:64] if client_address else None
