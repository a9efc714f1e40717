"""The storage service's request/reply endpoints on the bus (a NATS micro service)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from prometheus_client import Histogram

from libs.bus import Endpoint, timed
from libs.contracts import storage as contract
from services.storage import _acl, _delivery, _fetch, _holds, _mailboxes, _messages, _search
from services.storage._context import StorageContext
from services.storage._quota import get_usage

RPC_SECONDS = Histogram(
    "parley_storage_rpc_seconds",
    "Time to answer a storage request",
    ["operation"],
    buckets=(0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)


async def quota(ctx: StorageContext, request: contract.QuotaRequest) -> contract.QuotaReply:
    limits = await ctx.quotas.limits(request.account)
    async with ctx.read() as session:
        used_bytes, used_messages = await get_usage(session, request.account)
    return contract.QuotaReply(
        bytes_used=used_bytes, messages_used=used_messages, bytes_limit=limits.bytes, messages_limit=limits.messages
    )


OPERATIONS: tuple[tuple[str, str, type[Any], Callable[..., Awaitable[Any]]], ...] = (
    ("mailbox_list", contract.RPC_MAILBOX_LIST, contract.MailboxListRequest, _mailboxes.list_mailboxes),
    ("mailbox_create", contract.RPC_MAILBOX_CREATE, contract.MailboxCreateRequest, _mailboxes.create_mailbox),
    ("mailbox_rename", contract.RPC_MAILBOX_RENAME, contract.MailboxRenameRequest, _mailboxes.rename_mailbox),
    ("mailbox_delete", contract.RPC_MAILBOX_DELETE, contract.MailboxDeleteRequest, _mailboxes.delete_mailbox),
    (
        "mailbox_subscribe",
        contract.RPC_MAILBOX_SUBSCRIBE,
        contract.MailboxSubscribeRequest,
        _mailboxes.subscribe_mailbox,
    ),
    ("mailbox_status", contract.RPC_MAILBOX_STATUS, contract.MailboxStatusRequest, _mailboxes.mailbox_status),
    ("deliver", contract.RPC_DELIVER, contract.DeliverRequest, _delivery.deliver),
    ("append", contract.RPC_APPEND, contract.AppendRequest, _delivery.append),
    ("uids", contract.RPC_UIDS, contract.UidsRequest, _messages.uids),
    ("fetch", contract.RPC_FETCH, contract.FetchRequest, _fetch.fetch),
    ("store_flags", contract.RPC_STORE_FLAGS, contract.StoreFlagsRequest, _messages.store_flags),
    ("copy", contract.RPC_COPY, contract.CopyRequest, _messages.copy),
    ("move", contract.RPC_MOVE, contract.MoveRequest, _messages.move),
    ("expunge", contract.RPC_EXPUNGE, contract.ExpungeRequest, _messages.expunge),
    ("vanished", contract.RPC_VANISHED, contract.VanishedRequest, _messages.vanished),
    ("search", contract.RPC_SEARCH, contract.SearchRequest, _search.search),
    ("quota", contract.RPC_QUOTA, contract.QuotaRequest, quota),
    ("blob_hold", contract.RPC_BLOB_HOLD, contract.BlobHoldRequest, _holds.blob_hold),
    ("acl_set", contract.RPC_ACL_SET, contract.AclSetRequest, _acl.set_acl),
    ("acl_delete", contract.RPC_ACL_DELETE, contract.AclDeleteRequest, _acl.delete_acl),
    ("acl_get", contract.RPC_ACL_GET, contract.AclGetRequest, _acl.get_acl),
    ("my_rights", contract.RPC_MY_RIGHTS, contract.MyRightsRequest, _acl.my_rights),
    ("shared_list", contract.RPC_SHARED_LIST, contract.SharedListRequest, _acl.shared_list),
)


def endpoints(ctx: StorageContext) -> list[Endpoint]:
    return [
        Endpoint(name, subject, model, timed(RPC_SECONDS, name, partial(handler, ctx)))
        for name, subject, model, handler in OPERATIONS
    ]
