"""The registrar's rules (RFC 3261 section 10.3) on explicit time, without I/O."""

from __future__ import annotations

from services.sip._registrar import RegisterRefused, RegisterResult, RegistrarPolicy, apply_register, contact_headers
from services.sip.protocol import Request, parse_message

POLICY = RegistrarPolicy(min_expires=60, max_expires=3600, default_expires=1800, max_contacts=3)
NOW = 1_000_000.0


def register(*contacts: str, expires: int | None = None, call_id: str = "c1", cseq: int = 1) -> Request:
    lines = [
        "REGISTER sip:example.test SIP/2.0",
        "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKr1",
        "Max-Forwards: 70",
        "From: <sip:alice@example.test>;tag=a",
        "To: <sip:alice@example.test>",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} REGISTER",
        *(f"Contact: {c}" for c in contacts),
        *([f"Expires: {expires}"] if expires is not None else []),
        "Content-Length: 0",
        "",
        "",
    ]
    message = parse_message("\r\n".join(lines).encode())
    assert isinstance(message, Request)
    return message


def ok(result: RegisterResult | RegisterRefused) -> RegisterResult:
    assert isinstance(result, RegisterResult), result
    return result


def test_new_binding_gets_the_default_expiry() -> None:
    result = ok(apply_register(register("<sip:a@192.0.2.1>"), [], now=NOW, policy=POLICY, source="udp:1:2"))
    [binding] = result.bindings
    assert binding.expires_at == NOW + 1800 and binding.q == 1.0 and binding.source == "udp:1:2"


def test_contact_expires_wins_over_header_and_is_capped() -> None:
    result = ok(apply_register(register("<sip:a@h1>;expires=7200", "<sip:a@h2>", expires=120), [], now=NOW,
                               policy=POLICY))  # fmt: skip
    assert sorted(b.expires_at - NOW for b in result.bindings) == [120, 3600]


def test_too_brief_is_423_with_min_expires() -> None:
    refused = apply_register(register("<sip:a@h1>", expires=10), [], now=NOW, policy=POLICY)
    assert isinstance(refused, RegisterRefused) and refused.status == 423
    assert ("Min-Expires", "60") in refused.headers


def test_refresh_needs_a_higher_cseq_in_the_same_call_id() -> None:
    first = ok(apply_register(register("<sip:a@h1>", cseq=5), [], now=NOW, policy=POLICY)).bindings
    stale = apply_register(register("<sip:a@h1>", cseq=5), first, now=NOW + 1, policy=POLICY)
    assert isinstance(stale, RegisterRefused) and stale.status == 500
    other_call = ok(apply_register(register("<sip:a@h1>", call_id="c2", cseq=1), first, now=NOW, policy=POLICY))
    assert len(other_call.bindings) == 1 and other_call.bindings[0].call_id == "c2"


def test_several_contacts_q_values_and_removal() -> None:
    both = ok(apply_register(register("<sip:a@h1>;q=0.5", "<sip:a@h2>;q=1"), [], now=NOW, policy=POLICY)).bindings
    assert sorted(b.q for b in both) == [0.5, 1.0]
    removed = ok(apply_register(register("<sip:a@h1>", expires=0, cseq=2), both, now=NOW, policy=POLICY))
    assert [b.contact for b in removed.bindings] == ["sip:a@h2"]


def test_wildcard_removes_everything_only_with_expires_zero() -> None:
    bindings = ok(apply_register(register("<sip:a@h1>"), [], now=NOW, policy=POLICY)).bindings
    bad = apply_register(register("*", expires=60, cseq=2), bindings, now=NOW, policy=POLICY)
    assert isinstance(bad, RegisterRefused) and bad.status == 400
    cleared = ok(apply_register(register("*", expires=0, cseq=2), bindings, now=NOW, policy=POLICY))
    assert cleared.bindings == [] and cleared.changed


def test_query_changes_nothing_and_expired_bindings_vanish() -> None:
    bindings = ok(apply_register(register("<sip:a@h1>", expires=60), [], now=NOW, policy=POLICY)).bindings
    query = ok(apply_register(register(cseq=2), bindings, now=NOW + 10, policy=POLICY))
    assert not query.changed and len(query.bindings) == 1
    later = ok(apply_register(register(cseq=3), bindings, now=NOW + 61, policy=POLICY))
    assert later.bindings == []


def test_at_most_max_contacts_the_oldest_go() -> None:
    bindings = []
    for i in range(5):
        bindings = ok(apply_register(register(f"<sip:a@h{i}>", cseq=i + 1), bindings, now=NOW + i,
                                     policy=POLICY)).bindings  # fmt: skip
    assert [b.contact for b in bindings] == ["sip:a@h2", "sip:a@h3", "sip:a@h4"]


def test_same_instance_replaces_the_old_contact() -> None:
    inst = '+sip.instance="<urn:uuid:00000000-0000-0000-0000-000000000001>"'
    first = ok(apply_register(register(f"<sip:a@h1>;{inst}"), [], now=NOW, policy=POLICY)).bindings
    moved = ok(apply_register(register(f"<sip:a@h9>;{inst}", cseq=2), first, now=NOW, policy=POLICY)).bindings
    assert [b.contact for b in moved] == ["sip:a@h9"]


def test_contact_headers_show_remaining_time() -> None:
    bindings = ok(apply_register(register("<sip:a@h1>;q=0.7", expires=600), [], now=NOW, policy=POLICY)).bindings
    assert contact_headers(bindings, NOW + 100) == ["<sip:a@h1>;expires=500;q=0.7"]
