"""The registrar's decisions (RFC 3261 section 10.3), without I/O.

`apply_register` takes a REGISTER whose sender is already authenticated as
the address-of-record's account, the bindings stored for it, and the time,
and returns either the new list of bindings or the error to answer. The
caller (`_service.py`) reads the bindings from `sip_locations`, writes the
result back with the entry's revision (so two replicas cannot overwrite each
other), and sends the 200 only once that write is acked.

Rules, with their step in section 10.3:
- step 6: `Contact: *` only alone and with `Expires: 0` (else 400); it removes
  every binding, subject to the Call-ID/CSeq rule below.
- step 7: a binding's expiry is its Contact `expires` parameter, else the
  Expires header, else `default_expires`; below `min_expires` (and not 0) the
  request fails with 423 and Min-Expires; above `max_expires` it is cut.
- step 7: an existing binding (same URI by section 19.1.4, or the same
  `+sip.instance`, RFC 5626) with the same Call-ID is changed only by a higher
  CSeq; otherwise the request fails (500, "Out of order") and nothing changes.
- step 8: the 200 lists every current binding with its remaining `expires`.
Expired bindings are dropped on every write. When an AOR would hold more than
`max_contacts`, the bindings refreshed longest ago are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

from libs.contracts.sip import Binding
from services.sip.protocol import GrammarError, NameAddr, Request, parse_uri, uri_equal


@dataclass(frozen=True)
class RegistrarPolicy:
    min_expires: int = 60
    max_expires: int = 3600
    default_expires: int = 3600
    max_contacts: int = 10


@dataclass(frozen=True)
class RegisterRefused:
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class RegisterResult:
    bindings: list[Binding]
    changed: bool  # False for a query (no Contact): nothing to write


def live(bindings: list[Binding], now: float) -> list[Binding]:
    return [b for b in bindings if b.expires_at > now]


def apply_register(
    request: Request,
    bindings: list[Binding],
    *,
    now: float,
    policy: RegistrarPolicy,
    source: str = "",
    node: str = "",
) -> RegisterResult | RegisterRefused:
    current = live(bindings, now)
    try:
        header_expires = request.expires
        contacts = request.contacts
        wildcard = request.contact_wildcard
    except GrammarError as exc:
        return RegisterRefused(400, f"Bad Request ({exc})")
    call_id = request.call_id
    cseq = request.cseq.number
    if wildcard:
        if contacts or len(request.headers.values("Contact")) != 1 or header_expires != 0:
            return RegisterRefused(400, "Bad Request (Contact * needs Expires: 0 and no other Contact)")
        for binding in current:
            if binding.call_id == call_id and cseq <= binding.cseq:
                return RegisterRefused(500, "Out of order")
        return RegisterResult([], changed=True)
    if not contacts:
        return RegisterResult(current, changed=False)  # a query (section 10.2.3)

    updated = list(current)
    for contact in contacts:
        expires = _requested_expires(contact, header_expires, policy)
        if 0 < expires < policy.min_expires:
            return RegisterRefused(423, "Interval Too Brief", (("Min-Expires", str(policy.min_expires)),))
        expires = min(expires, policy.max_expires)
        instance = contact.param("+sip.instance")
        index = _find(updated, contact, instance)
        if index is not None:
            old = updated[index]
            if old.call_id == call_id and cseq <= old.cseq:
                return RegisterRefused(500, "Out of order")
            del updated[index]
        if expires == 0:
            continue
        q = contact.q
        updated.append(
            Binding(
                contact=str(contact.uri),
                expires_at=now + expires,
                q=1.0 if q is None else q,
                call_id=call_id,
                cseq=cseq,
                source=source,
                path=[str(p) for p in _path(request)],
                node=node,
                instance=instance,
                user_agent=(request.headers.get("User-Agent") or "")[:200],
                updated_at=now,
            )
        )
    if len(updated) > policy.max_contacts:
        updated = sorted(updated, key=lambda b: b.updated_at)[-policy.max_contacts :]
    return RegisterResult(updated, changed=True)


def contact_headers(bindings: list[Binding], now: float) -> list[str]:
    """The Contact values of a 200 to REGISTER (section 10.3 step 8)."""
    out = []
    for b in bindings:
        remaining = max(0, int(b.expires_at - now + 0.5))
        q = "" if b.q == 1.0 else f";q={b.q:g}"
        out.append(f"<{b.contact}>;expires={remaining}{q}")
    return out


def _requested_expires(contact: NameAddr, header: int | None, policy: RegistrarPolicy) -> int:
    if contact.expires is not None:
        return contact.expires
    if header is not None:
        return header
    return policy.default_expires


def _find(bindings: list[Binding], contact: NameAddr, instance: str | None) -> int | None:
    for i, binding in enumerate(bindings):
        if instance is not None and binding.instance == instance:
            return i
        try:
            if uri_equal(parse_uri(binding.contact), contact.uri):
                return i
        except GrammarError:
            continue
    return None


def _path(request: Request) -> list[NameAddr]:
    try:
        return request.path
    except GrammarError:
        return []
