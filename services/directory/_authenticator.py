"""Verdicts on login attempts: PLAIN (clear-text password), SCRAM-SHA-256 and SIP digest.

Order of checks: throttling first (a throttled client learns nothing, and
costs us no argon2 work), then the credential, then whether the account is
enabled (so a disabled account is only reported to someone who knows its
password). Unknown users cost the same argon2 work as known ones, so timing
does not reveal which accounts exist.
"""

from __future__ import annotations

import asyncio
import base64
import hmac

from libs.auth import digest, passwords, scram
from libs.contracts.directory import (
    AuthFailure,
    AuthReply,
    AuthRequest,
    Mechanism,
    ScramParamsReply,
    ScramParamsRequest,
)
from libs.contracts.errors import BadRequest
from libs.log import get_logger
from services.directory._addresses import InvalidAddress, parse_address
from services.directory._auth_cache import AuthCache
from services.directory._reads import Credentials, DirectoryReads
from services.directory._throttle import FailureWindow

_DECOY_HASH = passwords.hash_password("decoy password for unknown users")
_log = get_logger()


class Authenticator:
    def __init__(
        self,
        reads: DirectoryReads,
        *,
        server_secret: bytes,
        account_failures: FailureWindow,
        client_failures: FailureWindow,
        scram_iterations: int,
        auth_cache: AuthCache | None = None,
    ) -> None:
        self._reads = reads
        self._secret = server_secret
        self._account_failures = account_failures
        self._client_failures = client_failures
        self._scram_iterations = scram_iterations
        self._auth_cache = auth_cache if auth_cache is not None else AuthCache(0)

    async def authenticate(self, request: AuthRequest) -> AuthReply:
        login = _login_address(request)
        client = request.client_address or ""
        retry = self._throttled(login, client)
        if retry is not None:
            _log.info("directory.auth.throttled", account=login, peer=client, protocol=request.protocol)
            return AuthReply(ok=False, failure=AuthFailure.THROTTLED, retry_after=round(retry, 1))
        account = await self._account_for(login)
        verified, signature = await self._verify(request, account)
        if not verified or account is None:
            self._record_failure(login, client)
            _log.info(
                "directory.auth.failed",
                account=login,
                peer=client,
                protocol=request.protocol,
                mechanism=request.mechanism.value,
            )
            return AuthReply(ok=False, failure=AuthFailure.INVALID)
        if login:
            self._account_failures.reset(login)
        address = account.address
        if not account.enabled or not account.domain.enabled:
            return AuthReply(ok=False, account=address, failure=AuthFailure.DISABLED)
        return AuthReply(ok=True, account=address, server_signature=signature)

    async def scram_params(self, request: ScramParamsRequest) -> ScramParamsReply:
        login = _normalise_login(request.username)
        account = await self._account_for(login)
        if account is not None and account.scram_salt and account.scram_iterations:
            return ScramParamsReply(
                salt=base64.b64encode(account.scram_salt).decode(), iterations=account.scram_iterations
            )
        # A stable decoy, so probing SCRAM does not reveal which accounts exist.
        decoy = hmac.digest(self._secret, f"scram-salt:{login}".encode(), "sha256")[:16]
        return ScramParamsReply(salt=base64.b64encode(decoy).decode(), iterations=self._scram_iterations)

    async def _account_for(self, login: str) -> Credentials | None:
        return await self._reads.credentials(parse_address(login)) if login else None

    def _throttled(self, login: str, client: str) -> float | None:
        waits = [
            w
            for w in (
                self._account_failures.retry_after(login) if login else None,
                self._client_failures.retry_after(client) if client else None,
            )
            if w is not None
        ]
        return max(waits) if waits else None

    def _record_failure(self, login: str, client: str) -> None:
        if login:
            self._account_failures.record_failure(login)
        if client:
            self._client_failures.record_failure(client)

    async def _verify(self, request: AuthRequest, account: Credentials | None) -> tuple[bool, str | None]:
        if request.mechanism is Mechanism.PLAIN:
            return await _verify_plain(request, account, self._auth_cache), None
        if request.mechanism is Mechanism.SCRAM_SHA_256:
            return _verify_scram(request, account)
        if request.mechanism is Mechanism.DIGEST:
            return _verify_digest(request, account), None
        raise BadRequest(f"unsupported mechanism {request.mechanism}")


def _normalise_login(username: str) -> str:
    try:
        return parse_address(username).text
    except InvalidAddress:
        return ""


def _login_address(request: AuthRequest) -> str:
    """The address a request logs in as; digest user names may be a bare local part plus realm."""
    username = request.username
    if request.mechanism is Mechanism.DIGEST and request.digest is not None and "@" not in username:
        username = f"{username}@{request.digest.realm}"
    return _normalise_login(username)


async def _verify_plain(request: AuthRequest, account: Credentials | None, cache: AuthCache) -> bool:
    if request.password is None:
        raise BadRequest("PLAIN needs a password")
    if account is not None and account.password_hash:
        if cache.hit(account.address, request.password, account.password_hash):
            return True
        ok = await asyncio.to_thread(passwords.verify_password, account.password_hash, request.password)
        if ok:
            cache.remember(account.address, request.password, account.password_hash)
        return ok
    await asyncio.to_thread(passwords.verify_password, _DECOY_HASH, request.password)
    return False


def _verify_scram(request: AuthRequest, account: Credentials | None) -> tuple[bool, str | None]:
    if request.scram is None:
        raise BadRequest("SCRAM-SHA-256 needs the auth message and client proof")
    if account is None or account.scram_stored_key is None or account.scram_server_key is None:
        return False, None
    signature = scram.verify_proof(
        stored_key=account.scram_stored_key,
        server_key=account.scram_server_key,
        auth_message=request.scram.auth_message,
        client_proof_b64=request.scram.client_proof,
    )
    return signature is not None, signature


def _verify_digest(request: AuthRequest, account: Credentials | None) -> bool:
    fields = request.digest
    if fields is None:
        raise BadRequest("DIGEST needs the Authorization fields")
    if account is None:
        return False
    try:
        algorithm = digest.base_algorithm(fields.algorithm)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    # RFC 8760: realm = the account's domain; a domain alias is not the same realm.
    if fields.realm.lower() != account.domain.name:
        return False
    ha1 = account.ha1[(algorithm, "@" in request.username)]
    if not ha1:
        return False
    try:
        expected = digest.expected_response(
            algorithm=fields.algorithm,
            ha1_hex=ha1,
            nonce=fields.nonce,
            method=fields.method,
            uri=fields.uri,
            qop=fields.qop,
            nc=fields.nc,
            cnonce=fields.cnonce,
            body_hash=fields.body_hash,
        )
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    return digest.response_matches(expected, fields.response)
