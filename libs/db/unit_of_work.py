"""A database transaction whose events are published only after it commits.

Publishing before commit could tell a front end to reload something that is
then rolled back; publishing after means a crash between commit and publish
loses an event but never invents one (caches also expire on their own).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from libs.contracts.base import Event
from libs.contracts.errors import Conflict
from libs.log import get_logger

Publisher = Callable[[Event], Awaitable[None]]
_log = get_logger()


@dataclass
class Work:
    session: AsyncSession
    events: list[Event] = field(default_factory=list)

    def publish(self, event: Event) -> None:
        """Queue `event`; it goes out only if the transaction commits."""
        self.events.append(event)


class UnitOfWork:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], publish: Publisher) -> None:
        self.sessions = sessions
        self._publish = publish

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[Work]:
        async with self.sessions() as session:
            work = Work(session)
            yield work
            try:
                await session.commit()
            except IntegrityError:
                # Two admins creating the same name at once: the unique constraint decides.
                await session.rollback()
                raise Conflict("that name was taken or changed concurrently; try again") from None
        for event in work.events:
            try:
                await self._publish(event)
            except Exception as exc:  # the bus being down must not undo a committed change
                _log.warning("directory.event.unpublished", subject=event.subject(), error=repr(exc))
