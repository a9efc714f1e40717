"""What every storage operation needs: the database, the blob store, quota limits, events."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from libs.blobs.base import BlobStore
from libs.db.unit_of_work import UnitOfWork
from services.storage._quota import QuotaLimits
from services.storage.config import StorageSettings


class DeliverySink(Protocol):
    def arriving(self) -> AbstractContextManager[None]: ...

    async def submit(self, items: list[Any]) -> list[Any]: ...


@dataclass
class StorageContext:
    uow: UnitOfWork  # write transactions (events published after commit)
    read: async_sessionmaker[AsyncSession]  # read-only sessions that never block writers
    blobs: BlobStore
    quotas: QuotaLimits
    settings: StorageSettings
    deliveries: DeliverySink | None = None  # group commit (see _batching.py); None: one transaction each
