"""How committed changes reach this replica's read cache (rule in docs/directory.md).

The admin API publishes a `DirectoryChanged` event after each commit. The
replica that made the change applies it to its own cache first, before the
event goes out, so its next answer reflects the change even when the bus is
down; every replica (itself included) applies it again when the event
arrives. A reconnect to the bus forgets everything, since events published
while we were away are lost to us.
"""

from __future__ import annotations

from nats.aio.msg import Msg
from pydantic import ValidationError

from libs.bus import Bus
from libs.contracts.base import Event
from libs.contracts.directory import DirectoryChanged
from libs.db.unit_of_work import Publisher
from libs.log import get_logger
from services.directory._reads import CACHED_KINDS, DirectoryReads

_log = get_logger()


async def follow_changes(bus: Bus, reads: DirectoryReads) -> None:
    """Subscribe this replica's cache to every replica's change events."""

    async def on_event(msg: Msg) -> None:
        try:
            event = DirectoryChanged.model_validate_json(msg.data)
        except ValidationError:
            _log.warning("directory.cache.unreadable_event", subject=msg.subject)
            reads.forget_all()  # we cannot tell what changed, so assume anything did
            return
        reads.changed(event)

    # One subscription per kind, not `directory.>`: that would also deliver every
    # directory.rpc.* request to this process.
    for kind in CACHED_KINDS:
        await bus.nc.subscribe(f"directory.{kind.value}.*", cb=on_event)
    bus.on_reconnect(reads.forget_all)


def invalidating(publish: Publisher, reads: DirectoryReads) -> Publisher:
    """A publisher for the admin API's unit of work that applies each change here first."""

    async def publish_after_invalidating(event: Event) -> None:
        if isinstance(event, DirectoryChanged):
            reads.changed(event)
        await publish(event)

    return publish_after_invalidating
