"""DKIM verification (RFC 6376) of a message held in memory, with dkimpy.

Three steps, so that no thread ever waits on the network:

1. in a worker thread: find the DKIM-Signature fields and parse their tags
   (a malformed one is `permerror` at once);
2. on the event loop: fetch every `<s>._domainkey.<d>` TXT record with the
   async resolver (a timeout is `temperror`, no record or a record over
   `_dns.MAX_TXT_BYTES` is `permerror`);
3. in a worker thread: dkimpy checks body hashes and signatures, reading the
   keys fetched in step 2 through its `dnsfunc` hook.

At most `max_signatures` signatures are looked at. Results are RFC 8601
section 2.7.1 words; no input makes `verify` raise.
"""

from __future__ import annotations

import asyncio
import re
from concurrent.futures import Executor
from dataclasses import dataclass

import dkim
import dns.asyncresolver
from dkim.util import InvalidTagValueList, parse_tag_value

from libs.log import get_logger
from services.smtp import _dns

_log = get_logger()
_SIGNATURE_NAME = re.compile(rb"^dkim-signature[ \t]*:", re.IGNORECASE)
_SELECTOR = re.compile(rb"^[A-Za-z0-9_-]{1,63}(\.[A-Za-z0-9_-]{1,63})*$")


@dataclass(frozen=True)
class DkimResult:
    result: str  # pass, fail, neutral, policy, temperror, permerror, none
    domain: str = ""
    selector: str = ""
    identity: str = ""
    b: str = ""  # first characters of the signature, to tell signatures apart (RFC 6008)
    reason: str = ""

    def clause(self) -> str:
        parts = [f"dkim={self.result}"]
        if self.reason:
            parts.append(f"({_safe(self.reason)})")
        for name, value in (("header.d", self.domain), ("header.i", self.identity), ("header.s", self.selector),
                            ("header.b", self.b)):  # fmt: skip
            if value and re.fullmatch(r"[A-Za-z0-9._@+=/\-]+", value):
                parts.append(f"{name}={value}")
        return " ".join(parts)


def _safe(text: str) -> str:
    clean = "".join(c if c.isascii() and c.isprintable() and c not in "()\\" else " " for c in text)
    return " ".join(clean.split())[:200]


def header_section(message: bytes) -> bytes:
    end = message.find(b"\r\n\r\n")
    return message if end < 0 else message[: end + 2]


def has_signature(content: bytes) -> bool:
    """Does the (start of the) content carry a DKIM-Signature field?"""
    return any(_SIGNATURE_NAME.match(line) for line in header_section(content).split(b"\n"))


@dataclass
class _Signature:
    tags: dict[bytes, bytes] | None
    result: DkimResult | None = None  # decided before dkimpy runs
    key_name: bytes = b""


def _text(value: bytes | None) -> str:
    return (value or b"").decode("ascii", "replace")


def _parse_signatures(message: bytes, limit: int) -> list[_Signature]:
    headers, _ = dkim.rfc822_parse(header_section(message) + b"\r\n")
    found: list[_Signature] = []
    for name, value in headers:
        if name.lower() != b"dkim-signature":
            continue
        if len(found) == limit:
            break
        try:
            tags = parse_tag_value(value)
            dkim.validate_signature_fields(tags)
        except (InvalidTagValueList, dkim.DKIMException) as exc:
            tags_or_none = None
            try:
                tags_or_none = parse_tag_value(value)
            except Exception:
                pass
            base = _identify(tags_or_none or {})
            found.append(_Signature(None, DkimResult("permerror", reason=f"bad signature: {exc}", **base)))
            continue
        except Exception as exc:
            found.append(_Signature(None, DkimResult("permerror", reason=f"bad signature: {exc!r}")))
            continue
        signature = _Signature(tags)
        if not (_SELECTOR.match(tags[b"s"]) and _SELECTOR.match(tags[b"d"])):
            signature.result = DkimResult("permerror", reason="bad d= or s=", **_identify(tags))
        else:
            signature.key_name = tags[b"s"] + b"._domainkey." + tags[b"d"]
        found.append(signature)
    return found


def _identify(tags: dict[bytes, bytes]) -> dict[str, str]:
    b = re.sub(r"\s+", "", _text(tags.get(b"b")))[:8]
    return {"domain": _text(tags.get(b"d")).lower(), "selector": _text(tags.get(b"s")),
            "identity": _text(tags.get(b"i")), "b": b}  # fmt: skip


def _verify_with_keys(message: bytes, signatures: list[_Signature], keys: dict[bytes, bytes]) -> list[DkimResult]:
    def dnsfunc(name: bytes | str, timeout: float = 5) -> bytes | None:
        key = name.encode() if isinstance(name, str) else name
        return keys.get(key.rstrip(b".").lower())

    try:
        verifier = dkim.DKIM(message, minkey=1024)
    except Exception as exc:
        return [s.result or DkimResult("permerror", reason=f"unparsable message: {exc}") for s in signatures]
    results: list[DkimResult] = []
    for index, signature in enumerate(signatures):
        if signature.result is not None:
            results.append(signature.result)
            continue
        assert signature.tags is not None
        base = _identify(signature.tags)
        try:
            dkim.evaluate_pk(signature.key_name, keys.get(signature.key_name.lower()))
            ok = verifier.verify(idx=index, dnsfunc=dnsfunc)
            results.append(DkimResult("pass" if ok else "fail", **base, reason="" if ok else "bad signature"))
        except dkim.ValidationError as exc:
            results.append(DkimResult("fail", **base, reason=str(exc).split(" (")[0]))
        except dkim.DKIMException as exc:
            results.append(DkimResult("permerror", **base, reason=str(exc)[:120]))
        except Exception as exc:  # dkimpy choking on odd input must not fail the delivery
            _log.warning("smtp.dkim.verify_failed", error=repr(exc))
            results.append(DkimResult("permerror", **base, reason="unverifiable signature"))
    return results


class DkimVerifier:
    def __init__(self, resolver: dns.asyncresolver.Resolver, executor: Executor, *, max_signatures: int = 5) -> None:
        self._resolver = resolver
        self._executor = executor
        self._max_signatures = max_signatures

    async def verify(self, message: bytes) -> list[DkimResult]:
        """One result per signature (in header order); [DkimResult("none")] for an unsigned message."""
        loop = asyncio.get_running_loop()
        try:
            signatures = await loop.run_in_executor(self._executor, _parse_signatures, message, self._max_signatures)
        except Exception as exc:
            _log.warning("smtp.dkim.parse_failed", error=repr(exc))
            return [DkimResult("permerror", reason="unparsable header section")]
        if not signatures:
            return [DkimResult("none")]
        names = list(dict.fromkeys(s.key_name.lower() for s in signatures if s.result is None))
        answers = await asyncio.gather(*(self._key(name) for name in names))
        keys: dict[bytes, bytes] = {}
        for name, answer in zip(names, answers, strict=True):
            if isinstance(answer, bytes):
                keys[name] = answer
            else:
                for s in signatures:
                    if s.result is None and s.key_name.lower() == name:
                        s.result = DkimResult(answer[0], reason=answer[1], **_identify(s.tags or {}))
        if all(s.result is not None for s in signatures):
            return [s.result for s in signatures if s.result is not None]
        return await loop.run_in_executor(self._executor, _verify_with_keys, message, signatures, keys)

    async def _key(self, name: bytes) -> bytes | tuple[str, str]:
        try:
            records = await _dns.txt_lookup(self._resolver, name.decode("ascii"))
        except _dns.TxtTooLarge:
            return ("permerror", "key record too large")
        except Exception as exc:
            _log.warning("smtp.dkim.key_lookup_failed", error=repr(exc))
            return ("temperror", "key lookup failed")
        if records == _dns.TEMPORARY:
            return ("temperror", "key lookup timed out")
        if not records:
            return ("permerror", "no key for signature")
        # RFC 6376 3.6.2.2: one record; with several, the first that looks like a key.
        return next((r for r in records if b"p=" in r), records[0])
