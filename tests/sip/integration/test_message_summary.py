"""message-summary (RFC 3842) with a real storage service: the INBOX's unread mail lights the lamp.

The account subscribes to its own message-summary; the NOTIFY says what its
INBOX holds (unseen as new, the rest as old); a delivery and a \\Seen flag
(published by storage on `storage.mailbox.changed.<account>`) each bring a
new NOTIFY.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from libs.blobs import BlobSettings, blob_store_from_settings
from libs.bus import Bus
from libs.contracts import storage as storage_contract
from libs.testing.services import ServiceProcess
from services.sip.protocol import Request, Response
from tests.sip.integration.conftest import PASSWORD, SipSuite
from tests.sip.integration.ua import UA
from tests.storage.conftest import start_storage


@pytest.fixture(scope="module")
def storage(sip_suite: SipSuite) -> Iterator[tuple[ServiceProcess, Path]]:
    data_dir = sip_suite.data_dir / "storage"
    blobs = data_dir / "blobs"
    process = start_storage(data_dir, sip_suite.nats_url, f"sqlite+aiosqlite:///{data_dir / 'storage.sqlite3'}",
                            {"PARLEY_BLOB_BACKEND": "local", "PARLEY_BLOB_LOCAL_DIR": str(blobs)})  # fmt: skip
    try:
        yield process, blobs
    finally:
        process.stop()


def deliver(nats_url: str, blobs: Path, account: str) -> int:
    async def run() -> int:
        bus = await Bus.open(nats_url, name="mwi-test", timeout=15)
        store = blob_store_from_settings(BlobSettings(backend="local", local_dir=blobs))
        try:
            raw = f"From: a@example.com\r\nTo: {account}\r\nSubject: hi\r\n\r\nhello\r\n".encode()
            digest = (await store.put(raw)).digest
            target = storage_contract.DeliveryTarget(account=account)
            request = storage_contract.DeliverRequest(blob=digest, recipients=[target])
            reply = await bus.request(request.SUBJECT, request, storage_contract.DeliverReply)
            assert reply.results[0].ok, reply
            return reply.results[0].uid or 0
        finally:
            await store.close()
            await bus.close()

    return asyncio.run(run())


def mark_seen(nats_url: str, account: str, uid: int) -> None:
    async def run() -> None:
        bus = await Bus.open(nats_url, name="mwi-test", timeout=15)
        try:
            uids = [storage_contract.UidRange(first=uid, last=uid)]
            request = storage_contract.StoreFlagsRequest(
                account=account, mailbox="INBOX", mode="add", flags=["\\Seen"], uids=uids
            )
            await bus.request(request.SUBJECT, request, storage_contract.StoreFlagsReply)
        finally:
            await bus.close()

    asyncio.run(run())


def summary(ua: UA, call_id: str) -> dict[str, str]:
    msg = ua.expect(lambda m: isinstance(m, Request) and m.method == "NOTIFY" and m.call_id == call_id, 10)
    assert isinstance(msg, Request)
    ua.respond(msg, 200)
    assert msg.headers.get("Event") == "message-summary"
    assert msg.content_type == "application/simple-message-summary"
    lines = [line.partition(":") for line in msg.body.decode().splitlines() if line]
    return {name.strip(): value.strip() for name, _, value in lines}


def test_inbox_counts_light_the_lamp(sip_suite: SipSuite, storage: tuple[ServiceProcess, Path]) -> None:
    _, blobs = storage
    domain = sip_suite.new_domain()
    account = f"alice@{domain}"
    alice = UA("alice", domain, PASSWORD, proxy=("127.0.0.1", sip_suite.sip.port))
    try:
        call_id, uri = secrets.token_hex(8), alice.aor
        headers = ["Event: message-summary", "Expires: 600", f"Contact: <{alice.contact}>"]
        alice.request("SUBSCRIBE", uri, to=uri, headers=headers, call_id=call_id)
        challenge = alice.final("SUBSCRIBE")
        assert challenge.status == 401
        alice.request("SUBSCRIBE", uri, to=uri, call_id=call_id,
                      headers=[*headers, alice.authorization(challenge, "SUBSCRIBE", uri)])  # fmt: skip
        ok = alice.final("SUBSCRIBE")
        assert isinstance(ok, Response) and ok.status == 200
        empty = summary(alice, call_id)
        assert empty == {"Messages-Waiting": "no", "Message-Account": f"sip:{account}", "Voice-Message": "0/0 (0/0)"}
        uid = deliver(sip_suite.nats_url, blobs, account)
        waiting = summary(alice, call_id)
        assert waiting["Messages-Waiting"] == "yes" and waiting["Voice-Message"] == "1/0 (0/0)"
        mark_seen(sip_suite.nats_url, account, uid)
        read = summary(alice, call_id)
        assert read["Messages-Waiting"] == "no" and read["Voice-Message"] == "0/1 (0/0)"
    finally:
        alice.close()
