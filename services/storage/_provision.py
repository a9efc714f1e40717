"""Create an account's default mailboxes when the directory announces it."""

from __future__ import annotations

from libs.bus import Bus
from libs.contracts import directory
from libs.log import get_logger
from services.storage._context import StorageContext
from services.storage._mailboxes import ensure_defaults

_log = get_logger()


async def subscribe_account_events(bus: Bus, ctx: StorageContext) -> None:
    async def on_created(msg) -> None:  # type: ignore[no-untyped-def]
        try:
            event = directory.DirectoryChanged.model_validate_json(msg.data)
        except ValueError as exc:
            await bus.dead_letter(msg.subject, msg.data, str(exc))
            return
        try:
            async with ctx.uow() as work:
                created = await ensure_defaults(work.session, event.name)
        except Exception as exc:  # the lazy path in get_mailbox still covers this account
            _log.warning("storage.provision.failed", account=event.name, error=repr(exc))
            return
        if created:
            _log.info("storage.provision.created", account=event.name)

    # A queue group: with several storage replicas, one of them provisions.
    await bus.nc.subscribe(directory.ACCOUNT_CREATED, queue="storage-provisioner", cb=on_created)
