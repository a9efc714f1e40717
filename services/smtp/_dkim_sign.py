"""DKIM signing (RFC 6376, RFC 8463) of outgoing messages with the domain's key from the directory.

The delivery worker that sends a message to a remote server calls, once per
message (not per recipient):

    signer = DkimSigner(bus_key_source(bus))            # one per process
    header = await signer.sign(message, domain=author_domain(message) or sender_domain)
    if header is not None:
        message = header + message                      # the field goes in front

`sign` returns the `DKIM-Signature:` field (CRLF-terminated bytes), or None
when the domain has no active key; it raises `SigningUnavailable` when the
directory could not be asked (the worker should retry later rather than send
unsigned mail that the domain's DMARC policy may have rejected).

Keys come from `directory.rpc.dkim_key` and are cached for `cache_seconds`
(negative answers too), so a busy queue asks the directory about once a
minute per domain. Signing runs in a worker thread: hashing a large body and
an RSA signature are CPU work that must not stall the event loop.

Signed fields: `SIGNED_HEADERS`, with From listed twice so that a From field
added on the way breaks the signature (RFC 6376 section 8.15); fields absent
from the message are signed as absent, which keeps them from being added.
Canonicalization is relaxed/relaxed, which survives the usual rewrapping of
header fields and trailing whitespace by relays.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from email.parser import HeaderParser
from email.utils import getaddresses

import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from libs.bus import Bus
from libs.contracts import directory
from libs.contracts.errors import ServiceError
from libs.log import get_logger

_log = get_logger()

SIGNED_HEADERS = (
    b"from", b"from", b"sender", b"reply-to", b"to", b"cc", b"subject", b"date", b"message-id",
    b"in-reply-to", b"references", b"mime-version", b"content-type", b"content-transfer-encoding",
    b"list-id", b"list-unsubscribe", b"list-unsubscribe-post",
)  # fmt: skip
MAX_CACHED_DOMAINS = 10_000

KeySource = Callable[[str], Awaitable[directory.DkimKey | None]]


class SigningUnavailable(Exception):
    """The directory could not say whether the domain has a key; try again later."""


def bus_key_source(bus: Bus, *, timeout: float = 5.0) -> KeySource:
    """Ask the directory (`directory.rpc.dkim_key`) for a domain's active key."""

    async def fetch(domain: str) -> directory.DkimKey | None:
        try:
            reply = await bus.request(
                directory.RPC_DKIM_KEY,
                directory.DkimKeyRequest(domain=domain[:253]),
                directory.DkimKeyReply,
                timeout=timeout,
            )
        except ServiceError as exc:
            raise SigningUnavailable(str(exc)) from exc
        return reply.key

    return fetch


def author_domain(message: bytes) -> str | None:
    """The domain of the first From: address (what DMARC aligns the signature's d= with)."""
    end = message.find(b"\r\n\r\n")
    section = (message if end < 0 else message[: end + 4]).decode("utf-8", "replace")  # RFC 6532 headers
    headers = HeaderParser().parsestr(section)
    try:
        values = headers.get_all("From") or []
        addresses = getaddresses([str(v) for v in values])
    except Exception:
        return None
    for _name, address in addresses:
        domain = address.rpartition("@")[2].strip().rstrip(".").lower()
        if "@" in address and domain:
            return domain
    return None


def _signing_secret(key: directory.DkimKey) -> tuple[bytes, bytes]:
    """(the key as dkimpy wants it, the a= algorithm)."""
    if key.algorithm is directory.DkimAlgorithm.ED25519_SHA256:
        private = serialization.load_pem_private_key(key.private_key_pem.encode(), password=None)
        if not isinstance(private, ed25519.Ed25519PrivateKey):
            raise ValueError("ed25519-sha256 key is not an Ed25519 key")
        raw = private.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        return base64.b64encode(raw), b"ed25519-sha256"
    return key.private_key_pem.encode(), b"rsa-sha256"


def sign_with_key(message: bytes, key: directory.DkimKey) -> bytes:
    """The DKIM-Signature field for `message` (blocking: hashing and the signature itself)."""
    secret, algorithm = _signing_secret(key)
    field: bytes = dkim.sign(
        message,
        key.selector.encode("ascii"),
        key.domain.encode("ascii"),
        secret,
        signature_algorithm=algorithm,
        canonicalize=(b"relaxed", b"relaxed"),
        include_headers=list(SIGNED_HEADERS),
        linesep=b"\r\n",
    )
    return field


class DkimSigner:
    def __init__(
        self,
        keys: KeySource,
        *,
        cache_seconds: float = 60.0,
        executor: Executor | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._keys = keys
        self._cache_seconds = cache_seconds
        self._executor = executor
        self._clock = clock
        self._cache: OrderedDict[str, tuple[float, directory.DkimKey | None]] = OrderedDict()

    async def key_for(self, domain: str) -> directory.DkimKey | None:
        name = domain.strip().rstrip(".").lower()
        if not name:
            return None
        cached = self._cache.get(name)
        now = self._clock()
        if cached is not None and cached[0] > now:
            self._cache.move_to_end(name)
            return cached[1]
        key = await self._keys(name)
        self._cache[name] = (now + self._cache_seconds, key)
        self._cache.move_to_end(name)
        while len(self._cache) > MAX_CACHED_DOMAINS:
            self._cache.popitem(last=False)
        return key

    def forget(self, domain: str | None = None) -> None:
        """Drop cached keys (all, or one domain's), e.g. on `directory.dkim_key.*` events."""
        if domain is None:
            self._cache.clear()
        else:
            self._cache.pop(domain.strip().rstrip(".").lower(), None)

    async def sign(self, message: bytes, *, domain: str) -> bytes | None:
        """The `DKIM-Signature:` field to put in front of `message`, or None when `domain` has no key.

        Raises `SigningUnavailable` when the directory cannot be asked. A key
        or message that dkimpy cannot sign with is logged and gives None (the
        message goes out unsigned rather than never).
        """
        key = await self.key_for(domain)
        if key is None:
            return None
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, sign_with_key, message, key)
        except (dkim.DKIMException, ValueError, TypeError) as exc:
            _log.warning("smtp.dkim.sign_failed", domain=key.domain, selector=key.selector, error=str(exc)[:200])
            return None
