"""DNS resolvers for the sender checks (SPF, DKIM), built from `MailAuthSettings`.

An async resolver serves lookups done on the event loop (DKIM keys); a
blocking one serves pyspf, which runs in a worker thread. Both use the same
servers and timeouts: `PARLEY_SMTP_DNS_SERVERS` (empty: /etc/resolv.conf),
`PARLEY_SMTP_DNS_TIMEOUT` per server, `PARLEY_SMTP_DNS_LIFETIME` per lookup.
Tests point them at a small authoritative server on loopback.

`txt_lookup` folds every failure into one of three answers, so callers
never see a dnspython exception: records, nothing (NXDOMAIN / no TXT:
a permanent "no such record"), or `TEMPORARY` (timeout, SERVFAIL, no
server answered: the RFCs' temperror).
"""

from __future__ import annotations

from typing import Literal

import dns.asyncresolver
import dns.exception
import dns.name
import dns.nameserver
import dns.resolver

from services.smtp.config_mailauth import MailAuthSettings

TEMPORARY: Literal["temporary"] = "temporary"
MAX_TXT_BYTES = 16 * 1024  # one TXT record set, strings joined; larger is refused as malformed


class TxtTooLarge(Exception):
    pass


def _configure(resolver: dns.resolver.BaseResolver, settings: MailAuthSettings) -> None:
    servers = settings.dns_server_list()
    if servers:
        resolver.nameservers = [dns.nameserver.Do53Nameserver(host, port) for host, port in servers]
    resolver.timeout = settings.dns_timeout
    resolver.lifetime = settings.dns_lifetime
    resolver.cache = None  # answers are not ours to keep: TTLs are honoured by the upstream resolver


def async_resolver(settings: MailAuthSettings) -> dns.asyncresolver.Resolver:
    resolver = dns.asyncresolver.Resolver(configure=not settings.dns_server_list())
    _configure(resolver, settings)
    return resolver


def blocking_resolver(settings: MailAuthSettings) -> dns.resolver.Resolver:
    resolver = dns.resolver.Resolver(configure=not settings.dns_server_list())
    _configure(resolver, settings)
    return resolver


async def txt_lookup(resolver: dns.asyncresolver.Resolver, name: str) -> list[bytes] | Literal["temporary"]:
    """The TXT records at `name`, each with its strings joined (RFC 7208 3.3, RFC 6376 3.6.2.2)."""
    try:
        answer = await resolver.resolve(name, "TXT", search=False)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    except (dns.exception.Timeout, dns.resolver.NoNameservers, dns.resolver.LifetimeTimeout):
        return TEMPORARY
    except (dns.name.NameTooLong, dns.name.EmptyLabel, dns.name.LabelTooLong):
        return []
    except dns.exception.DNSException:
        return TEMPORARY
    records = [b"".join(rdata.strings) for rdata in answer]  # type: ignore[attr-defined]
    if sum(len(r) for r in records) > MAX_TXT_BYTES:
        raise TxtTooLarge(name)
    return records
