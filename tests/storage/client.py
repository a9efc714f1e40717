"""A test-side storage client: puts bodies into the blob store and calls the contract."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from pydantic import BaseModel

from libs.blobs import BlobSettings, BlobStore, blob_store_from_settings
from libs.bus import Bus
from libs.contracts import storage as contract
from tests.storage.conftest import StorageSuite

T = TypeVar("T", bound=BaseModel)


class StorageClient:
    def __init__(self, bus: Bus, blobs: BlobStore) -> None:
        self.bus = bus
        self.blobs = blobs

    async def call(self, request: BaseModel, reply: type[T]) -> T:
        return await self.bus.request(request.SUBJECT, request, reply)  # type: ignore[attr-defined]

    async def put(self, raw: bytes) -> str:
        return (await self.blobs.put(raw)).digest

    async def deliver(self, raw: bytes, *accounts: str, mailbox: str = "INBOX", **extra: Any) -> contract.DeliverReply:
        digest = await self.put(raw)
        recipients = [contract.DeliveryTarget(account=a, mailbox=mailbox) for a in accounts]
        return await self.call(
            contract.DeliverRequest(blob=digest, recipients=recipients, **extra), contract.DeliverReply
        )

    async def append(self, account: str, mailbox: str, raw: bytes, **extra: Any) -> contract.AppendReply:
        digest = await self.put(raw)
        request = contract.AppendRequest(account=account, mailbox=mailbox, blob=digest, **extra)
        return await self.call(request, contract.AppendReply)

    async def uids(self, account: str, mailbox: str = "INBOX") -> contract.UidsReply:
        return await self.call(contract.UidsRequest(account=account, mailbox=mailbox), contract.UidsReply)

    async def fetch(self, account: str, mailbox: str = "INBOX", *, first: int = 1, last: int | None = None,
                    items: list[str] | None = None, **extra: Any) -> contract.FetchReply:  # fmt: skip
        request = contract.FetchRequest(
            account=account, mailbox=mailbox, uids=[contract.UidRange(first=first, last=last)],
            items=items or ["flags"], **extra,
        )  # fmt: skip
        return await self.call(request, contract.FetchReply)

    async def search(self, account: str, criteria: dict[str, Any], mailbox: str = "INBOX") -> list[int]:
        request = contract.SearchRequest(account=account, mailbox=mailbox, criteria=contract.SearchKey(**criteria))
        return (await self.call(request, contract.SearchReply)).uids


def blob_settings(suite: StorageSuite) -> BlobSettings:
    return BlobSettings.model_validate({k.removeprefix("PARLEY_BLOB_").lower(): v for k, v in suite.blob_env.items()})


@asynccontextmanager
async def storage_client(suite: StorageSuite) -> AsyncIterator[StorageClient]:
    bus = await Bus.open(suite.nats_url, name="storage-test", timeout=15)
    blobs = blob_store_from_settings(blob_settings(suite))
    try:
        yield StorageClient(bus, blobs)
    finally:
        await blobs.close()
        await bus.close()
