"""What every storage operation needs: the database, the blob store, quota limits, events."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from libs.blobs.base import BlobStore
from libs.db.unit_of_work import UnitOfWork
from services.storage._quota import QuotaLimits
from services.storage.config import StorageSettings


@dataclass(frozen=True)
class StorageContext:
    uow: UnitOfWork  # write transactions (events published after commit)
    read: async_sessionmaker[AsyncSession]  # read-only sessions that never block writers
    blobs: BlobStore
    quotas: QuotaLimits
    settings: StorageSettings
