"""The directory service's public surface: identity, routing of addresses, credentials.

Request/reply subjects are served as a NATS micro service named `directory`.
Secrets (password hashes, SCRAM keys, SIP HA1) never leave the directory:
front ends send what the client proved and get a verdict back. The one
exception is a domain's DKIM private key (`directory.rpc.dkim_key`): the SMTP
signer needs the key itself (docs/architecture.md says why, and why NATS must
then be protected).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar

from pydantic import Field

from libs.contracts.base import Event, Message

SERVICE_NAME = "directory"

RPC_AUTH = "directory.rpc.auth"
RPC_SCRAM_PARAMS = "directory.rpc.scram_params"
RPC_RESOLVE = "directory.rpc.resolve"
RPC_ACCOUNT_GET = "directory.rpc.account_get"
RPC_DKIM_KEY = "directory.rpc.dkim_key"
RPC_ADMIN_AUTH = "directory.rpc.admin_auth"

# Events: directory.<kind>.<action>, e.g. directory.account.created.
EVENTS_ALL = "directory.>"


class ObjectKind(StrEnum):
    DOMAIN = "domain"
    DOMAIN_ALIAS = "domain_alias"
    ACCOUNT = "account"
    ALIAS = "alias"
    FORWARDER = "forwarder"
    GROUP = "group"
    ADMIN = "admin"
    DKIM_KEY = "dkim_key"


class Action(StrEnum):
    CREATED = "created"
    CHANGED = "changed"
    DELETED = "deleted"


def event_subject(kind: ObjectKind, action: Action) -> str:
    return f"directory.{kind.value}.{action.value}"


ACCOUNT_CREATED = event_subject(ObjectKind.ACCOUNT, Action.CREATED)
ACCOUNT_CHANGED = event_subject(ObjectKind.ACCOUNT, Action.CHANGED)
ACCOUNT_DELETED = event_subject(ObjectKind.ACCOUNT, Action.DELETED)


class DirectoryChanged(Event):
    """Something in the directory was created, changed or deleted; front ends drop caches.

    `name` is the object's canonical key: a domain name, an address, or an
    admin login. `domain` is the domain it belongs to (empty for server admins).
    """

    kind: ObjectKind
    action: Action
    name: str
    domain: str = ""

    def subject(self) -> str:
        return event_subject(self.kind, self.action)


# --- authentication ---------------------------------------------------------------


class Mechanism(StrEnum):
    PLAIN = "PLAIN"  # also serves LOGIN and USER/PASS: a clear-text password
    SCRAM_SHA_256 = "SCRAM-SHA-256"
    DIGEST = "DIGEST"  # SIP/HTTP digest (RFC 8760: MD5 or SHA-256)


class ScramProof(Message):
    """What a SCRAM client proved (RFC 5802 section 3): the AuthMessage and ClientProof."""

    auth_message: str = Field(max_length=8192)
    client_proof: str = Field(max_length=512, description="base64")


class DigestResponse(Message):
    """The fields of a digest Authorization header (RFC 7616 / RFC 8760)."""

    realm: str = Field(max_length=255)
    nonce: str = Field(max_length=512)
    uri: str = Field(max_length=2048)
    method: str = Field(max_length=32)
    response: str = Field(max_length=128)
    algorithm: str = Field("MD5", max_length=32)
    qop: str | None = Field(None, max_length=16)
    nc: str | None = Field(None, max_length=16)
    cnonce: str | None = Field(None, max_length=512)
    body_hash: str | None = Field(None, max_length=128, description="H(entity-body), hex, for qop=auth-int")


class AuthRequest(Message):
    SUBJECT: ClassVar[str] = RPC_AUTH

    mechanism: Mechanism
    username: str = Field(max_length=512, description="login name: an address, or a local part plus realm for digest")
    password: str | None = Field(None, max_length=1024)
    scram: ScramProof | None = None
    digest: DigestResponse | None = None
    client_address: str | None = Field(None, max_length=64)
    protocol: str = Field("", max_length=16, description="front end asking: smtp, imap, sip, ...")


class AuthFailure(StrEnum):
    INVALID = "invalid_credentials"
    THROTTLED = "throttled"
    DISABLED = "disabled"


class AuthReply(Message):
    ok: bool
    account: str | None = None
    failure: AuthFailure | None = None
    retry_after: float | None = None
    server_signature: str | None = Field(None, description="SCRAM ServerSignature, base64")


class ScramParamsRequest(Message):
    SUBJECT: ClassVar[str] = RPC_SCRAM_PARAMS

    username: str = Field(max_length=512)


class ScramParamsReply(Message):
    """Salt and iteration count for SCRAM's server-first-message.

    Unknown users get a stable made-up salt, so the reply does not reveal
    which accounts exist.
    """

    salt: str = Field(description="base64")
    iterations: int


# --- address resolution -------------------------------------------------------------


class ResolveStatus(StrEnum):
    LOCAL = "local"  # delivered by us: accounts and/or forward targets
    REMOTE = "remote"  # not one of our domains
    UNKNOWN = "unknown"  # one of our domains, but nobody there
    INVALID = "invalid"  # not a well-formed address


class ResolveRequest(Message):
    SUBJECT: ClassVar[str] = RPC_RESOLVE

    address: str = Field(max_length=1024)


class ResolveReply(Message):
    status: ResolveStatus
    address: str = Field(description="the address in canonical form (lower case, Unicode domain)")
    accounts: list[str] = Field(default_factory=list, description="local accounts to deliver to")
    remote: list[str] = Field(default_factory=list, description="addresses outside our domains to forward to")
    reason: str = ""


# --- account lookup -------------------------------------------------------------------


class AccountGetRequest(Message):
    SUBJECT: ClassVar[str] = RPC_ACCOUNT_GET

    address: str = Field(max_length=1024)


class AccountInfo(Message):
    address: str
    domain: str
    real_name: str = ""
    enabled: bool = True
    quota_bytes: int | None = None
    quota_messages: int | None = None
    settings: dict[str, Any] = Field(default_factory=dict)


# --- DKIM signing keys ------------------------------------------------------------------


class DkimAlgorithm(StrEnum):
    RSA_SHA256 = "rsa-sha256"
    ED25519_SHA256 = "ed25519-sha256"


class DkimKeyRequest(Message):
    """The active DKIM signing key of one of our domains (a primary domain name, not an alias)."""

    SUBJECT: ClassVar[str] = RPC_DKIM_KEY

    domain: str = Field(max_length=253)


class DkimKey(Message):
    domain: str = Field(description="the d= of signatures: the domain's canonical name (IDNA A-label)")
    selector: str = Field(description="the s= of signatures; the key is published at <selector>._domainkey.<domain>")
    algorithm: DkimAlgorithm
    private_key_pem: str = Field(repr=False, description="PKCS#8 PEM; a secret: kept out of repr, never logged")


class DkimKeyReply(Message):
    key: DkimKey | None = Field(None, description="None: the domain is not ours, or has no active key")


# --- administrators (for other services' admin APIs) ---------------------------------


class AdminAuthRequest(Message):
    """Check an administrator's HTTP Basic login, for a service whose API admits the directory's administrators.

    A wrong login is refused with `unauthorized`, too many failures from the
    client with `too_many_requests` (the same throttle as the admin API)."""

    SUBJECT: ClassVar[str] = RPC_ADMIN_AUTH

    user: str = Field(max_length=512)
    password: str = Field(max_length=1024, repr=False)
    client_address: str = Field("", max_length=64)


class AdminPrincipal(Message):
    """Who logged in: a server administrator (role `server`) or a domain administrator of `domain`."""

    name: str
    role: str = Field(description="server or domain")
    domain: str = Field("", description="the administered domain, for role domain")
