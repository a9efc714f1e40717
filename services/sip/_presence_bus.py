"""The notifier's ties to the bus: the `presence` bucket, the events it listens to, its clock.

Listens to `presence.state.changed.*` (any replica's change of a presentity),
`directory.account.changed` (a presentity's consent may have changed) and
`storage.mailbox.changed.*` (an INBOX changed: message-summary), and ticks
once a second for expiries. Each handler runs as a core task, so a slow
directory or storage answer holds up nothing else.

For the reg event package it watches the `sip_locations` entry of each
account someone here subscribed to (a JetStream KV watch per account, started
and stopped by the tick as subscriptions come and go), so a REGISTER through
any replica reaches the watcher.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from pydantic import ValidationError

from libs.bus import Bus
from libs.contracts import directory as dir_contract
from libs.contracts import presence as contract
from libs.contracts import sip as sip_contract
from libs.contracts import storage as storage_contract
from libs.contracts.errors import ServiceError
from libs.log import get_logger
from services.sip._core import SipCore
from services.sip._presence import PresencePolicy, PresenceServer
from services.sip._presence_store import PresenceStore

_log = get_logger()


class PresenceRuntime:
    def __init__(self, bus: Bus, core: SipCore, policy: PresencePolicy, *, tick: float = 1.0) -> None:
        self.bus = bus
        self.core = core
        self.tick_interval = tick
        self.store = PresenceStore(bus, ttl=policy.publish_max_expires + 300)
        self.server = PresenceServer(
            core, store=self.store, policy=policy, publish_state=bus.publish,
            account_settings=self.account_settings, inbox_counts=self.inbox_counts,
        )  # fmt: skip
        self._subscriptions: list[Any] = []
        self._ticker: asyncio.Task[None] | None = None
        self._reg_watches: dict[str, asyncio.Task[None]] = {}

    async def start(self) -> None:
        await self.store.bucket()  # fail at start if JetStream is off
        nc = self.bus.nc
        self._subscriptions = [
            await nc.subscribe(contract.STATE_CHANGED_ALL, cb=self._state_changed),
            await nc.subscribe(dir_contract.ACCOUNT_CHANGED, cb=self._account_changed),
            await nc.subscribe(storage_contract.MAILBOX_CHANGED_ALL, cb=self._mailbox_changed),
        ]
        self.core.presence = self.server
        self._ticker = asyncio.get_running_loop().create_task(self._tick())

    async def close(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
        for task in self._reg_watches.values():
            task.cancel()
        for sub in self._subscriptions:
            try:
                await sub.unsubscribe()
            except Exception:  # noqa: BLE001 - the connection may be closing already
                pass

    async def account_settings(self, account: str) -> dict[str, Any]:
        request = dir_contract.AccountGetRequest(address=account)
        reply = await self.bus.request(dir_contract.RPC_ACCOUNT_GET, request, dir_contract.AccountInfo)
        return reply.settings

    async def inbox_counts(self, account: str) -> tuple[int, int] | None:
        """Unseen and total messages of the account's INBOX; None when storage does not answer."""
        request = storage_contract.MailboxStatusRequest(account=account, name="INBOX")
        try:
            info = await self.bus.request(storage_contract.RPC_MAILBOX_STATUS, request, storage_contract.MailboxInfo)
        except ServiceError as exc:
            _log.info("sip.mwi.storage_unavailable", account=account, error=str(exc))
            return None
        return info.unseen, info.messages

    async def _state_changed(self, msg: Any) -> None:
        try:
            state = contract.PresenceState.model_validate_json(msg.data)
        except ValidationError:
            await self.bus.dead_letter(msg.subject, msg.data, "not a PresenceState")
            return
        self.core._spawn(self.server.on_state_changed(state.account))

    async def _account_changed(self, msg: Any) -> None:
        try:
            event = dir_contract.DirectoryChanged.model_validate_json(msg.data)
        except ValidationError:
            return
        self.core._spawn(self.server.on_account_changed(event.name))

    async def _mailbox_changed(self, msg: Any) -> None:
        try:
            event = storage_contract.MailboxChanged.model_validate_json(msg.data)
        except ValidationError:
            return
        self.core._spawn(self.server.on_mailbox_changed(event.account, event.mailbox))

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.tick_interval)
            try:
                await self.server.tick(time.time())
                self._reconcile_reg_watches()
            except Exception:  # noqa: BLE001 - the next tick tries again
                _log.exception("sip.presence.tick_failed")

    def _reconcile_reg_watches(self) -> None:
        wanted = self.server.table.resources("reg")
        for account in wanted - self._reg_watches.keys():
            task = asyncio.get_running_loop().create_task(self._watch_registration(account))
            self._reg_watches[account] = task
        for account in self._reg_watches.keys() - wanted:
            self._reg_watches.pop(account).cancel()
        for account, task in list(self._reg_watches.items()):
            if task.done():
                del self._reg_watches[account]  # failed: started again next tick

    async def _watch_registration(self, account: str) -> None:
        kv = await self.core.locations.bucket()
        watcher = await kv.watch(sip_contract.location_key(account))
        try:
            async for entry in watcher:
                if entry is not None:  # None marks the end of the initial values
                    self.core._spawn(self.server.on_registration_changed(account))
        finally:
            try:
                await watcher.stop()
            except Exception:  # noqa: BLE001 - the connection may be closing
                pass
