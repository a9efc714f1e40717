"""The proxy and registrar core driven in memory: fake directory and stores, no sockets.

The transport is a list of (bytes, peer); time is the event loop's. These
tests show the section 16 behaviour without processes: forking, the 2xx
cancelling the other branch, best response, 480/404, REGISTER with digest.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

from libs.contracts import sip as contract
from libs.contracts.directory import AuthReply, DigestResponse, ResolveReply, ResolveStatus
from services.sip._core import CoreConfig, SipCore
from services.sip._nonces import NonceBook
from services.sip._registrar import RegistrarPolicy
from services.sip.policy import DigestAuth
from services.sip.protocol import Request, Response, parse_message
from services.sip.transport import Peer

DOMAIN = "example.test"
PASSWORD = "secret"
PROXY = Peer("UDP", "192.0.2.1", 5060)


class FakeDirectory:
    async def resolve(self, address: str) -> ResolveReply:
        user, _, domain = address.partition("@")
        if domain != DOMAIN:
            return ResolveReply(status=ResolveStatus.REMOTE, address=address)
        if user not in ("alice", "bob"):
            return ResolveReply(status=ResolveStatus.UNKNOWN, address=address)
        return ResolveReply(status=ResolveStatus.LOCAL, address=address, accounts=[address])

    async def check_digest(self, username: str, fields: DigestResponse, client: str) -> AuthReply:
        ha1 = hashlib.md5(f"{username}:{fields.realm}:{PASSWORD}".encode()).hexdigest()
        ha2 = hashlib.md5(f"{fields.method}:{fields.uri}".encode()).hexdigest()
        expected = hashlib.md5(f"{ha1}:{fields.nonce}:{fields.nc}:{fields.cnonce}:{fields.qop}:{ha2}".encode())
        ok = expected.hexdigest() == fields.response
        return AuthReply(ok=ok, account=f"{username}@{fields.realm}" if ok else None)


class FakeLocations:
    def __init__(self) -> None:
        self.records: dict[str, list[contract.Binding]] = {}

    async def bindings(self, account: str, now: float) -> list[contract.Binding]:
        return [b for b in self.records.get(account, []) if b.expires_at > now]

    async def change(self, account: str, update: Any) -> Any:
        result = update(self.records.get(account, []))
        if getattr(result, "changed", False):
            self.records[account] = result.bindings
        return result


class FakePending:
    def __init__(self) -> None:
        self.kept: list[tuple[str, bytes]] = []

    async def keep(self, account: str, data: bytes) -> None:
        self.kept.append((account, data))

    async def pending(self, account: str) -> list[tuple[int, bytes]]:
        return []


class FakeCdr:
    def __init__(self) -> None:
        self.events: list[contract.CallEvent] = []

    async def publish(self, event: contract.CallEvent) -> None:
        self.events.append(event)


class Harness:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes, Peer]] = []
        self.locations = FakeLocations()
        self.cdr = FakeCdr()
        self.pending = FakePending()
        directory = FakeDirectory()
        config = CoreConfig(host="192.0.2.1", ports={"UDP": 5060}, local_addresses={"192.0.2.1"}, node="test",
                            registrar=RegistrarPolicy(min_expires=60))  # fmt: skip
        self.core = SipCore(
            config, send=lambda data, peer: self.sent.append((data, peer)), directory=directory,
            auth=DigestAuth(directory, NonceBook(lifetime=60), algorithms=["MD5"]), locations=self.locations,  # type: ignore[arg-type]
            pending=self.pending, cdr=self.cdr, publish_im=self._published,  # type: ignore[arg-type]
        )  # fmt: skip
        self.ims: list[contract.InstantMessage] = []

    async def _published(self, event: contract.InstantMessage) -> None:
        self.ims.append(event)

    async def feed(self, text: str, peer: Peer) -> None:
        self.core.receive(text.replace("\n", "\r\n").encode(), peer)
        for _ in range(5):
            await asyncio.sleep(0)

    def take(self, to: Peer | None = None) -> list[Request | Response]:
        out, rest = [], []
        for data, peer in self.sent:
            (out if to is None or (peer.host, peer.port) == (to.host, to.port) else rest).append((data, peer))
        self.sent = rest
        return [parse_message(data) for data, _ in out]  # type: ignore[misc]


def bind(h: Harness, user: str, host: str, q: float = 1.0) -> Peer:
    h.locations.records.setdefault(f"{user}@{DOMAIN}", []).append(
        contract.Binding(contact=f"sip:{user}@{host}:5060", expires_at=1e12, q=q, call_id="x", cseq=1)
    )
    return Peer("UDP", host, 5060)


def invite_text(call_id: str = "c1", to: str = "bob") -> str:
    return (
        f"INVITE sip:{to}@{DOMAIN} SIP/2.0\nVia: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bK{call_id};rport\n"
        f"Max-Forwards: 70\nFrom: <sip:alice@{DOMAIN}>;tag=a\nTo: <sip:{to}@{DOMAIN}>\nCall-ID: {call_id}\n"
        "CSeq: 1 INVITE\nContact: <sip:alice@198.51.100.1>\nContent-Length: 0\n\n"
    )


def answer(request: Request, status: int, tag: str) -> str:
    vias = "".join(f"Via: {v}\n" for v in request.headers.values("Via"))
    rr = "".join(f"Record-Route: {v}\n" for v in request.headers.values("Record-Route"))
    return (
        f"SIP/2.0 {status} X\n{vias}{rr}From: {request.headers.get('From')}\n"
        f"To: {request.headers.get('To')};tag={tag}\nCall-ID: {request.call_id}\nCSeq: {request.cseq}\n"
        f"Contact: <sip:bob@{tag}.example>\nContent-Length: 0\n\n"
    )


CALLER = Peer("UDP", "198.51.100.1", 5060)


async def test_fork_answer_cancels_the_other_branch() -> None:
    h = Harness()
    phone1, phone2 = bind(h, "bob", "203.0.113.1"), bind(h, "bob", "203.0.113.2")
    await h.feed(invite_text(), CALLER)
    assert [m.status for m in h.take(CALLER)] == [100]  # type: ignore[union-attr]
    [inv1], [inv2] = h.take(phone1), h.take(phone2)
    assert isinstance(inv1, Request) and str(inv1.uri) == "sip:bob@203.0.113.1:5060"
    assert inv1.max_forwards == 69 and len(inv1.vias) == 2 and inv1.record_routes
    await h.feed(answer(inv2, 180, "b2"), phone2)
    assert [m.status for m in h.take(CALLER)] == [180]  # type: ignore[union-attr]
    await h.feed(answer(inv1, 200, "b1"), phone1)
    [ok] = h.take(CALLER)
    assert isinstance(ok, Response) and ok.status == 200 and len(ok.vias) == 1
    [cancel] = [m for m in h.take(phone2) if isinstance(m, Request)]
    assert cancel.method == "CANCEL" and cancel.top_via.branch == inv2.top_via.branch  # type: ignore[union-attr]
    assert [type(e).__name__ for e in h.cdr.events] == ["CallAttempted", "CallAnswered"]


async def test_best_final_response_and_serial_groups() -> None:
    h = Harness()
    first = bind(h, "bob", "203.0.113.1", q=1.0)
    second = bind(h, "bob", "203.0.113.2", q=0.5)
    await h.feed(invite_text("c2"), CALLER)
    h.take(CALLER)
    [inv1] = h.take(first)
    assert h.take(second) == []  # the lower q waits (serial forking)
    await h.feed(answer(inv1, 486, "x1"), first)
    for _ in range(5):
        await asyncio.sleep(0)
    acks_and_invite = h.take(second)
    [inv2] = [m for m in acks_and_invite if isinstance(m, Request) and m.method == "INVITE"]
    await h.feed(answer(inv2, 480, "x2"), second)
    for _ in range(5):
        await asyncio.sleep(0)
    finals = [m for m in h.take(CALLER) if isinstance(m, Response)]
    assert [m.status for m in finals] == [486]  # a specific 4xx beats 480
    assert h.cdr.events[-1].status == 486  # type: ignore[attr-defined]


async def test_unknown_user_and_no_binding_and_offline_message() -> None:
    h = Harness()
    await h.feed(invite_text("c3", to="nobody"), CALLER)
    assert [m.status for m in h.take(CALLER) if m.status >= 200] == [404]  # type: ignore[union-attr]
    await h.feed(invite_text("c4"), CALLER)
    assert [m.status for m in h.take(CALLER) if m.status >= 200] == [480]  # type: ignore[union-attr]
    message = invite_text("c5").replace("INVITE", "MESSAGE").replace("Content-Length: 0\n\n", "")
    await h.feed(message + "Content-Type: text/plain\nContent-Length: 2\n\nhi", CALLER)
    assert [m.status for m in h.take(CALLER)] == [202]  # type: ignore[union-attr]
    assert h.pending.kept[0][0] == f"bob@{DOMAIN}" and h.ims[0].body == "hi"


async def test_register_challenge_then_digest() -> None:
    h = Harness()
    phone = Peer("UDP", "203.0.113.9", 5060)
    register = (
        f"REGISTER sip:{DOMAIN} SIP/2.0\nVia: SIP/2.0/UDP 203.0.113.9:5060;branch=z9hG4bKr{{n}}\nMax-Forwards: 70\n"
        f"From: <sip:bob@{DOMAIN}>;tag=r\nTo: <sip:bob@{DOMAIN}>\nCall-ID: reg1\nCSeq: {{n}} REGISTER\n"
        "Contact: <sip:bob@203.0.113.9>\nExpires: 600\n{auth}Content-Length: 0\n\n"
    )
    await h.feed(register.format(n=1, auth=""), phone)
    [challenge] = h.take(phone)
    assert isinstance(challenge, Response) and challenge.status == 401
    nonce = challenge.www_authenticate[0].nonce
    ha1 = hashlib.md5(f"bob:{DOMAIN}:{PASSWORD}".encode()).hexdigest()
    ha2 = hashlib.md5(f"REGISTER:sip:{DOMAIN}".encode()).hexdigest()
    response = hashlib.md5(f"{ha1}:{nonce}:00000001:c:auth:{ha2}".encode()).hexdigest()
    auth = (f'Authorization: Digest username="bob", realm="{DOMAIN}", nonce="{nonce}", uri="sip:{DOMAIN}", '
            f'response="{response}", algorithm=MD5, qop=auth, nc=00000001, cnonce="c"\n')  # fmt: skip
    await h.feed(register.format(n=2, auth=auth), phone)
    [ok] = h.take(phone)
    assert isinstance(ok, Response) and ok.status == 200 and ok.contacts[0].expires == 600
    assert [b.contact for b in h.locations.records[f"bob@{DOMAIN}"]] == ["sip:bob@203.0.113.9"]
    await h.feed(register.format(n=3, auth=auth), phone)  # the same nonce count again
    assert [m.status for m in h.take(phone)] == [403]  # type: ignore[union-attr]
