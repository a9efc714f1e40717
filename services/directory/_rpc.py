"""The directory's request/reply endpoints on the bus (a NATS micro service)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from libs.bus import Endpoint, timed
from libs.contracts import directory as contract
from libs.contracts.errors import BadRequest, NotFound
from services.directory._addresses import InvalidAddress, parse_address
from services.directory._authenticator import Authenticator
from services.directory._reads import DirectoryReads
from services.directory._resolver import resolve

RPC_SECONDS = Histogram(
    "parley_directory_rpc_seconds",
    "Time to answer a directory request",
    ["operation"],
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)
AUTH_RESULTS = Counter("parley_directory_auth_total", "Authentication verdicts", ["mechanism", "result"])


class DirectoryRpc:
    def __init__(self, reads: DirectoryReads, authenticator: Authenticator, *, max_depth: int) -> None:
        self._reads = reads
        self._authenticator = authenticator
        self._max_depth = max_depth

    def endpoints(self) -> list[Endpoint]:
        return [
            Endpoint("auth", contract.RPC_AUTH, contract.AuthRequest, timed(RPC_SECONDS, "auth", self.auth)),
            Endpoint(
                "scram_params",
                contract.RPC_SCRAM_PARAMS,
                contract.ScramParamsRequest,
                timed(RPC_SECONDS, "scram_params", self._authenticator.scram_params),
            ),
            Endpoint(
                "resolve", contract.RPC_RESOLVE, contract.ResolveRequest, timed(RPC_SECONDS, "resolve", self.resolve)
            ),
            Endpoint(
                "account_get",
                contract.RPC_ACCOUNT_GET,
                contract.AccountGetRequest,
                timed(RPC_SECONDS, "account_get", self.account_get),
            ),
        ]

    async def auth(self, request: contract.AuthRequest) -> contract.AuthReply:
        reply = await self._authenticator.authenticate(request)
        result = "ok" if reply.ok else (reply.failure.value if reply.failure else "failed")
        AUTH_RESULTS.labels(request.mechanism.value, result).inc()
        return reply

    async def resolve(self, request: contract.ResolveRequest) -> contract.ResolveReply:
        return await resolve(self._reads, request.address, max_depth=self._max_depth)

    async def account_get(self, request: contract.AccountGetRequest) -> contract.AccountInfo:
        try:
            address = parse_address(request.address)
        except InvalidAddress as exc:
            raise BadRequest(str(exc)) from None
        found = await self._reads.account(address)
        if found is None:
            raise NotFound(f"no account {address.text}")
        domain, row = found
        return contract.AccountInfo(
            address=f"{row.local}@{domain.name}",
            domain=domain.name,
            real_name=row.real_name,
            enabled=row.enabled and domain.enabled,
            quota_bytes=row.quota_bytes,
            quota_messages=row.quota_messages,
            settings=row.settings,
        )
