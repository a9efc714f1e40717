"""SPF (RFC 7208) of the MAIL FROM identity, or of HELO when MAIL FROM is null.

The check_host() evaluation is pyspf's (`spf` module: macros, mechanisms and
the RFC 7208 section 4.6.4 limits of 10 DNS-querying terms and 2 void
lookups). pyspf is blocking, so it runs in a small dedicated thread pool, and
its DNS goes through our resolver (`_dns.blocking_resolver`): pyspf calls the
module-level `spf.DNSLookup`, which we replace once with a function that
uses the resolver of the check in progress (a context variable, copied into
the worker thread) and falls back to pyspf's own lookup outside a check.

Every outcome is one of the RFC 7208 section 2.6 results; DNS failures are
`temperror`, never an exception for the caller.
"""

from __future__ import annotations

import asyncio
import contextvars
import ipaddress
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import dns.exception
import dns.resolver
import idna
import spf

from libs.log import get_logger
from services.smtp import _dns
from services.smtp.config_mailauth import MailAuthSettings

_log = get_logger()

RESULTS = ("pass", "fail", "softfail", "neutral", "none", "permerror", "temperror")
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$")

_resolver: contextvars.ContextVar[dns.resolver.Resolver | None] = contextvars.ContextVar("spf_resolver", default=None)
_pyspf_lookup = spf.DNSLookup


def _lookup(name: str, qtype: str, strict: Any = True, timeout: float = 20) -> list[tuple[tuple[str, str], Any]]:
    """pyspf's DNSLookup contract: [((name, qtype), value), ...]; raises spf.TempError on DNS trouble."""
    resolver = _resolver.get()
    if resolver is None:
        return list(_pyspf_lookup(name, qtype, strict, timeout))
    found: list[tuple[tuple[str, str], Any]] = []
    try:
        answer = resolver.resolve(name, qtype, search=False, lifetime=min(timeout, resolver.lifetime))
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return found
    except dns.exception.DNSException as exc:
        raise spf.TempError(f"DNS {exc.__class__.__name__}") from None
    for rdata in answer:
        if qtype in ("A", "AAAA"):
            found.append(((name, qtype), rdata.address))
        elif qtype == "MX":
            found.append(((name, qtype), (rdata.preference, rdata.exchange.to_text(True))))
        elif qtype == "PTR":
            found.append(((name, qtype), rdata.target.to_text(True)))
        elif qtype in ("TXT", "SPF"):
            found.append(((name, qtype), rdata.strings))
    return found


spf.DNSLookup = _lookup


@dataclass(frozen=True)
class SpfResult:
    result: str  # one of RESULTS
    identity: str  # "mailfrom" or "helo" (RFC 8601 section 2.7.2 property)
    value: str  # the checked MAIL FROM address or HELO name
    reason: str = ""

    def clause(self) -> str:
        """The `spf=` part of Authentication-Results (RFC 8601 section 2.7.2)."""
        comment = f" ({_comment(self.reason)})" if self.reason else ""
        return f"spf={self.result}{comment} smtp.{self.identity}={_ptext(self.value)}"


def _comment(text: str) -> str:
    clean = "".join(c if c.isprintable() and c.isascii() and c not in "()\\" else " " for c in text)
    return " ".join(clean.split())[:200]


def _ptext(value: str) -> str:
    """A property value: plain when it is a token or an address, else a quoted string."""
    if re.fullmatch(r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~.@]+", value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def valid_domain(name: str) -> bool:
    """RFC 7208 section 4.3: a malformed or non-FQDN domain gives "none" without any lookup."""
    name = name.rstrip(".")
    if not name or len(name) > 253 or not name.isascii() or "." not in name:
        return False
    return all(_LABEL.match(label) for label in name.split("."))


def to_ascii(domain: str) -> str | None:
    """A-labels for DNS (an SMTPUTF8 sender may give a Unicode domain); None when it is no domain."""
    if domain.isascii():
        return domain
    try:
        return idna.encode(domain.rstrip("."), uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError):
        return None


class SpfChecker:
    def __init__(
        self, settings: MailAuthSettings, *, receiver: str = "", executor: ThreadPoolExecutor | None = None
    ) -> None:
        self.settings = settings
        self.receiver = receiver  # the %{r} macro (RFC 7208 section 7.3)
        self._resolver = _dns.blocking_resolver(settings)
        self._executor = executor or ThreadPoolExecutor(max_workers=8, thread_name_prefix="spf")

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def check(self, *, client_ip: str, sender: str | None, helo: str | None) -> SpfResult:
        """check_host() for MAIL FROM `sender` (None or "" for the null path: HELO is checked)."""
        helo = (helo or "").strip()
        identity, value = ("mailfrom", sender) if sender else ("helo", helo)
        domain = value.rpartition("@")[2] if identity == "mailfrom" else value
        try:
            ipaddress.ip_address(client_ip)
        except ValueError:
            return SpfResult("none", identity, value, "client address is not IP")
        ascii_domain = to_ascii(domain)
        if ascii_domain is None or not valid_domain(ascii_domain):
            return SpfResult("none", identity, value, "no valid domain to check")
        if identity == "mailfrom":
            sender = f"{value.rpartition('@')[0]}@{ascii_domain}"
        else:
            helo = ascii_domain
        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()
        context.run(_resolver.set, self._resolver)
        work = loop.run_in_executor(self._executor, context.run, self._evaluate, client_ip, sender or "", helo)
        try:
            # pyspf keeps to its own time budget; this only guards against a pool full of slow checks.
            result, _code, explanation = await asyncio.wait_for(work, self.settings.spf_total_timeout * 2)
        except TimeoutError:
            return SpfResult("temperror", identity, value, "SPF evaluation timed out")
        except Exception as exc:  # a bug or a pyspf surprise: recorded, never fatal to the session
            _log.warning("smtp.spf.failed", error=repr(exc), identity=identity)
            return SpfResult("permerror", identity, value, "evaluation failed")
        if result not in RESULTS:
            result = "permerror"
        return SpfResult(result, identity, value, str(explanation or ""))

    def _evaluate(self, client_ip: str, sender: str, helo: str) -> tuple[str, int, str]:
        total = self.settings.spf_total_timeout
        query = spf.query(
            i=client_ip, s=sender, h=helo or "unknown", receiver=self.receiver or None, timeout=total, querytime=total
        )
        return query.check()  # type: ignore[no-any-return]
