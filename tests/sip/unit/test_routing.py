"""The proxy's pure rules (RFC 3261 section 16): request checks, forwarding copies, best response."""

from __future__ import annotations

from libs.contracts.sip import Binding
from services.sip import _routing as routing
from services.sip.protocol import Request, Response, Via, parse_message, parse_uri

OURS = {"proxy.test:5060"}


def request(extra: str = "", max_forwards: int = 70) -> Request:
    text = (
        "INVITE sip:bob@example.test SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKc1\r\n"
        f"Max-Forwards: {max_forwards}\r\nFrom: <sip:alice@example.test>;tag=a\r\nTo: <sip:bob@example.test>\r\n"
        f"Call-ID: call1\r\nCSeq: 1 INVITE\r\n{extra}Content-Length: 0\r\n\r\n"
    )
    message = parse_message(text.encode())
    assert isinstance(message, Request)
    return message


def reply(status: int) -> Response:
    message = parse_message(
        f"SIP/2.0 {status} X\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKc1\r\nFrom: <sip:a@x>;tag=a\r\n"
        f"To: <sip:b@x>;tag=b\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n".encode()
    )
    assert isinstance(message, Response)
    return message


def test_max_forwards_zero_is_483_and_proxy_require_420() -> None:
    assert routing.check_request(request(max_forwards=0), OURS) == routing.Refusal(483)
    refusal = routing.check_request(request("Proxy-Require: foo\r\n"), OURS)
    assert refusal is not None and refusal.status == 420 and ("Unsupported", "foo") in refusal.headers
    assert routing.check_request(request(), OURS) is None


def test_forwarded_copy_is_a_loop_when_it_comes_back_unchanged() -> None:
    original = request()
    via = Via("UDP", "proxy.test", 5060, (("branch", routing.new_branch(original)),))
    copy = routing.forward_copy(original, target=None, via=via, record_route="<sip:proxy.test;lr>")
    assert copy.max_forwards == 69 and copy.headers.get("Record-Route") == "<sip:proxy.test;lr>"
    # The same request arriving again (same URI, tags, Call-ID, CSeq, Route) is a loop: 482.
    assert routing.check_request(copy, OURS) == routing.Refusal(482)
    # A spiral (the Request-URI changed) is not.
    spiral = routing.copy_request(copy)
    spiral.set_uri(parse_uri("sip:bob@192.0.2.9"))
    assert routing.check_request(spiral, OURS) is None


def test_missing_max_forwards_becomes_70() -> None:
    original = request()
    original.headers.remove("Max-Forwards")
    via = Via("UDP", "proxy.test", 5060, (("branch", routing.new_branch(original)),))
    assert routing.forward_copy(original, target=None, via=via, record_route=None).max_forwards == 70


def test_best_response_prefers_6xx_then_specific_4xx() -> None:
    assert routing.best_response([reply(486), reply(603), reply(200)]).status == 603  # type: ignore[union-attr]
    assert routing.best_response([reply(408), reply(486), reply(500)]).status == 486  # type: ignore[union-attr]
    assert routing.best_response([reply(503), reply(500)]).status == 500  # type: ignore[union-attr]
    assert routing.best_response([reply(302), reply(404)]).status == 302  # type: ignore[union-attr]
    assert routing.best_response([]) is None
    assert routing.status_for_upstream(reply(503)).status == 500


def test_target_groups_by_q_highest_first() -> None:
    def binding(contact: str, q: float) -> Binding:
        return Binding(contact=contact, expires_at=1e12, q=q, call_id="c", cseq=1)

    groups = routing.target_groups([binding("sip:a@1", 0.5), binding("sip:a@2", 1.0), binding("sip:a@3", 0.5)])
    assert [[b.contact for b in g] for g in groups] == [["sip:a@2"], ["sip:a@1", "sip:a@3"]]


def test_own_route_is_popped() -> None:
    message = request("Route: <sip:proxy.test;lr>, <sip:next.test;lr>\r\n")
    assert routing.pop_own_route(message, lambda uri: uri.host == "proxy.test")
    assert [str(r.uri) for r in message.routes] == ["sip:next.test;lr"]
