"""The resolve cache is dropped by directory change events, not by the directory's RPC traffic."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from libs.contracts import directory as dir_contract
from services.sip.policy import BusDirectory


def matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: `*` one token, `>` the rest."""
    want, got = pattern.split("."), subject.split(".")
    for i, token in enumerate(want):
        if token == ">":
            return len(got) > i
        if i >= len(got) or (token != "*" and token != got[i]):
            return False
    return len(want) == len(got)


class FakeBus:
    def __init__(self) -> None:
        self.subscriptions: list[tuple[str, Any]] = []
        self.requests = 0
        self.nc = SimpleNamespace(subscribe=self._subscribe)

    async def _subscribe(self, subject: str, cb: Any) -> None:
        self.subscriptions.append((subject, cb))

    async def request(self, subject: str, payload: Any, reply_model: Any) -> Any:
        self.requests += 1
        return dir_contract.ResolveReply(status=dir_contract.ResolveStatus.LOCAL, address=payload.address,
                                         accounts=[payload.address])  # fmt: skip

    async def publish_to_subscribers(self, subject: str) -> None:
        for pattern, cb in self.subscriptions:
            if matches(pattern, subject):
                await cb(SimpleNamespace(subject=subject, data=b"{}"))


async def test_rpc_traffic_keeps_the_cache_and_changes_drop_it() -> None:
    bus = FakeBus()
    directory = BusDirectory(bus)  # type: ignore[arg-type]
    await directory.watch()
    await directory.resolve("alice@example.test")
    for rpc in (dir_contract.RPC_AUTH, dir_contract.RPC_RESOLVE, dir_contract.RPC_ACCOUNT_GET):
        await bus.publish_to_subscribers(rpc)
    await directory.resolve("alice@example.test")
    assert bus.requests == 1
    await bus.publish_to_subscribers(dir_contract.ACCOUNT_CREATED)
    await directory.resolve("alice@example.test")
    assert bus.requests == 2
    for kind in dir_contract.ObjectKind:
        await bus.publish_to_subscribers(dir_contract.event_subject(kind, dir_contract.Action.DELETED))
        await directory.resolve("alice@example.test")
    assert bus.requests == 2 + len(dir_contract.ObjectKind)
