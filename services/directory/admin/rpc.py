"""`directory.rpc.admin_auth`: other services' admin APIs (cdr) check administrator logins here,
with the same verification, cache and failure throttle as the directory's own admin API."""

from __future__ import annotations

from libs.bus import Endpoint
from libs.contracts import directory as contract
from services.directory.admin.principal import AdminAuthenticator


def admin_auth_endpoints(authenticator: AdminAuthenticator) -> list[Endpoint]:
    async def admin_auth(request: contract.AdminAuthRequest) -> contract.AdminPrincipal:
        # Unauthorized and TooManyRequests travel back as bus errors of the same class.
        who = await authenticator.authenticate(request.user, request.password, request.client_address)
        return contract.AdminPrincipal(name=who.name, role=who.role, domain=who.domain)

    return [Endpoint("admin_auth", contract.RPC_ADMIN_AUTH, contract.AdminAuthRequest, admin_auth)]
