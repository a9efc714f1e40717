"""The proxy's rules that need no I/O (RFC 3261 section 16): checks, forwarding copies, responses.

- `check_request` (16.3): Max-Forwards (483), Proxy-Require (420), loops (482).
- `forward_copy` (16.6): the copy of a request sent to one target: new
  Request-URI, Max-Forwards decremented, Record-Route, our Via on top with a
  branch that carries the loop-detection hash (16.6 step 8).
- `best_response` (16.7 step 6): which final response goes upstream.
- `target_groups`: contacts in q-value order, equal q forked in parallel and
  the groups tried one after another (16.6, 16.7 step 6 "serial").
- `strip_own_via` (16.7 step 3) and `pop_own_route` (16.4).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from libs.contracts.sip import Binding
from services.sip.protocol import (
    MAGIC_COOKIE,
    GrammarError,
    Request,
    Response,
    SipUri,
    Uri,
    Via,
    parse_message,
)

MAX_FORWARDS_DEFAULT = 70
SUPPORTED_PROXY_EXTENSIONS: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Refusal:
    status: int
    reason: str | None = None
    headers: tuple[tuple[str, str], ...] = ()


def loop_hash(request: Request) -> str:
    """What section 16.6 step 8 says goes into the branch for loop detection: the Request-URI,
    From tag, To tag, Call-ID, CSeq number, Proxy-Require and Route values as received."""
    parts = [
        request.uri_text or str(request.uri),
        request.from_.tag or "",
        request.to.tag or "",
        request.call_id,
        str(request.cseq.number),
        ",".join(request.headers.values("Proxy-Require")),
        ",".join(request.headers.values("Route")),
    ]
    return hashlib.sha256("\x00".join(parts).encode("utf-8", "surrogateescape")).hexdigest()[:16]


def new_branch(request: Request | None = None) -> str:
    stem = loop_hash(request) + "." if request is not None else ""
    return f"{MAGIC_COOKIE}{stem}{secrets.token_hex(8)}"


def is_loop(request: Request, own_sent_by: set[str]) -> bool:
    """Section 16.3 step 4: a Via of ours whose branch carries this request's loop hash.
    A Via of ours with another hash is a spiral (the request changed), which is fine."""
    ours = [v for v in request.vias if v.sent_by.lower() in own_sent_by]
    if not ours:
        return False
    stem = MAGIC_COOKIE + loop_hash(request) + "."
    return any((v.branch or "").startswith(stem) for v in ours)


def check_request(request: Request, own_sent_by: set[str]) -> Refusal | None:
    if request.max_forwards == 0:
        return Refusal(483)  # section 16.3 step 3
    try:
        unsupported = [t for t in request.proxy_require if t.lower() not in SUPPORTED_PROXY_EXTENSIONS]
    except GrammarError:
        return Refusal(400, "Bad Proxy-Require")
    if unsupported:
        return Refusal(420, None, (("Unsupported", ", ".join(unsupported)),))  # section 16.3 step 5
    if is_loop(request, own_sent_by):
        return Refusal(482)
    return None


def copy_request(request: Request) -> Request:
    copy = parse_message(request.to_bytes())
    assert isinstance(copy, Request)
    return copy


def forward_copy(request: Request, *, target: Uri | None, via: Via, record_route: str | None) -> Request:
    """Section 16.6 steps 1-8 for one target (`target` None keeps the Request-URI)."""
    copy = copy_request(request)
    if target is not None:
        copy.set_uri(target)
    forwards = copy.max_forwards
    copy.headers.set("Max-Forwards", str(MAX_FORWARDS_DEFAULT if forwards is None else forwards - 1))
    if record_route is not None:
        copy.headers.insert_first("Record-Route", record_route)
    copy.headers.insert_first("Via", str(via))
    return copy


def strip_own_via(response: Response) -> bool:
    """Remove our top Via (section 16.7 step 3); False when no Via is left (the response was for us)."""
    response.headers.pop_first_value("Via")
    return bool(response.headers.values("Via"))


def pop_own_route(request: Request, is_ours: callable) -> bool:  # type: ignore[valid-type]
    """Section 16.4: remove the top Route if it names us; True when one was removed.
    A strict-routing previous hop (Request-URI is ours) is not supported: those are rare now."""
    removed = False
    while True:
        routes = request.routes
        if not routes or not is_ours(routes[0].uri):
            return removed
        request.headers.pop_first_value("Route")
        removed = True


def target_groups(bindings: Iterable[Binding]) -> list[list[Binding]]:
    """Bindings grouped by q, highest first: each group forked in parallel, groups in series."""
    groups: dict[float, list[Binding]] = {}
    for b in bindings:
        groups.setdefault(b.q, []).append(b)
    return [groups[q] for q in sorted(groups, reverse=True)]


def _class_rank(status: int) -> int:
    # Section 16.7 step 6: 6xx wins, then 2xx; otherwise the lowest class, with
    # 4xx preferred to 5xx; among 4xx, challenges and specific answers beat 408/480.
    if 600 <= status < 700:
        return 0
    if 200 <= status < 300:
        return 1
    if 300 <= status < 400:
        return 2
    if 400 <= status < 500:
        return 3 if status not in (408, 480, 487) else 4
    return 5


def best_response(responses: list[Response]) -> Response | None:
    if not responses:
        return None
    best = min(responses, key=lambda r: (_class_rank(r.status), r.status == 503, r.status))
    return best


def status_for_upstream(response: Response) -> Response:
    """Section 16.7 step 6: a 503 is not passed on as such (the caller would avoid us): 500."""
    if response.status == 503:
        response.status = 500
        response.reason = "Server Internal Error"
    return response


def sip_uri(host: str, port: int | None, *, user: str | None = None, transport: str | None = None,
            lr: bool = False) -> SipUri:  # fmt: skip
    params: list[tuple[str, str | None]] = []
    if transport and transport != "UDP":
        params.append(("transport", transport.lower()))
    if lr:
        params.append(("lr", None))
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return SipUri(host=host, port=port, user=user, params=tuple(params))  # type: ignore[arg-type]
