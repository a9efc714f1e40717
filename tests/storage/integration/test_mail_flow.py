"""A message's life through the storage contract: deliver, list, fetch, flag,
search, copy, move, expunge, on each database and blob backend."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from libs.contracts import storage as contract
from libs.contracts.errors import BadRequest, InvalidName, MailboxExists, MailboxNotFound, OverQuota
from tests.storage.client import storage_client
from tests.storage.conftest import StorageSuite

pytestmark = pytest.mark.timeout(120)

MESSAGE = (
    b"From: Bob Sender <bob@example.net>\r\n"
    b"To: Alice <alice@example.test>\r\n"
    b"Subject: Quarterly report =?utf-8?q?caf=C3=A9?=\r\n"
    b"Date: Tue, 24 Nov 2026 10:00:00 +0000\r\n"
    b"Message-ID: <m1@example.net>\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="b1"\r\n'
    b"\r\n"
    b"--b1\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n"
    b"The numbers for the third quarter are attached.\r\n"
    b"--b1\r\n"
    b'Content-Type: application/pdf; name="q3.pdf"\r\n'
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n"
    b"JVBERi0xLjQK\r\n"
    b"--b1--\r\n"
)


def simple(subject: str, body: str = "hello") -> bytes:
    return f"From: a@example.net\r\nSubject: {subject}\r\n\r\n{body}\r\n".encode()


async def test_a_message_through_its_whole_life(suite: StorageSuite) -> None:
    alice = suite.new_account()
    async with storage_client(suite) as s:
        delivered = await s.deliver(MESSAGE, alice)
        [result] = delivered.results
        assert result.ok and result.mailbox == "INBOX" and result.uid == 1

        listing = await s.call(contract.MailboxListRequest(account=alice, with_counts=True), contract.MailboxListReply)
        boxes = {m.name: m for m in listing.mailboxes}
        assert set(boxes) == {"INBOX", "Sent", "Drafts", "Trash", "Junk", "Archive"}
        assert boxes["Trash"].special_use == "\\Trash"
        assert (boxes["INBOX"].messages, boxes["INBOX"].unseen, boxes["INBOX"].size) == (1, 1, len(MESSAGE))

        fetched = await s.fetch(alice, items=["flags", "envelope", "structure", "size", "blob", "headers"])
        [meta] = fetched.messages
        assert meta.uid == 1 and meta.flags == [] and meta.size == len(MESSAGE)
        assert await s.blobs.get(meta.blob) == MESSAGE  # byte-exact
        assert "café" in meta.headers["subject"]
        assert meta.envelope_dict()["message_id"] == "<m1@example.net>"
        assert meta.structure_dict()["root"]["children"][1]["subtype"] == "pdf"

        stored = await s.call(
            contract.StoreFlagsRequest(account=alice, mailbox="INBOX", uids=[contract.UidRange(first=1)],
                                       mode="add", flags=["\\seen", "$Important"]),
            contract.StoreFlagsReply,
        )  # fmt: skip
        assert stored.changed[0].flags == ["\\Seen", "$Important"] and stored.changed[0].modseq > meta.modseq

        assert await s.search(alice, {"op": "text", "value": "third quarter"}) == [1]
        assert await s.search(alice, {"op": "body", "value": "numbers"}) == [1]
        assert await s.search(alice, {"op": "subject", "value": "CAFÉ"}) == [1]
        assert await s.search(alice, {"op": "from", "value": "bob@example"}) == [1]
        assert await s.search(alice, {"op": "keyword", "value": "$important"}) == [1]
        assert await s.search(alice, {"op": "unseen"}) == []
        assert await s.search(alice, {"op": "not", "keys": [{"op": "seen"}]}) == []
        assert await s.search(alice, {"op": "body", "value": "nowhere-to-be-found"}) == []

        moved = await s.call(
            contract.MoveRequest(account=alice, mailbox="INBOX", uids=[contract.UidRange(first=1)], target="Archive"),
            contract.CopyReply,
        )
        assert moved.source_uids == [1] and moved.target_uids == [1] and moved.expunged == [1]
        assert (await s.uids(alice)).uids == []
        assert await s.search(alice, {"op": "text", "value": "quarter"}) == [], "its index row went with it"
        archived = await s.fetch(alice, "Archive", items=["flags"])
        assert archived.messages[0].flags == ["\\Seen", "$Important"]
        assert await s.search(alice, {"op": "text", "value": "quarter"}, mailbox="Archive") == [1]

        await s.call(
            contract.StoreFlagsRequest(account=alice, mailbox="Archive", uids=[contract.UidRange(first=1)],
                                       mode="add", flags=["\\Deleted"]),
            contract.StoreFlagsReply,
        )  # fmt: skip
        expunged = await s.call(contract.ExpungeRequest(account=alice, mailbox="Archive"), contract.ExpungeReply)
        assert expunged.expunged == [1]
        assert await s.search(alice, {"op": "body", "value": "numbers"}, mailbox="Archive") == []
        vanished = await s.call(
            contract.VanishedRequest(account=alice, mailbox="Archive", since_modseq=1), contract.VanishedReply
        )
        assert vanished.uids == [1]
        quota = await s.call(contract.QuotaRequest(account=alice), contract.QuotaReply)
        assert (quota.bytes_used, quota.messages_used) == (0, 0)


async def test_uids_are_never_reused_and_modseq_grows(suite: StorageSuite) -> None:
    alice = suite.new_account()
    async with storage_client(suite) as s:
        for i in range(3):
            await s.deliver(simple(f"m{i}"), alice)
        first = await s.uids(alice)
        assert first.uids == [1, 2, 3]
        await s.call(
            contract.StoreFlagsRequest(account=alice, mailbox="INBOX", uids=[contract.UidRange(first=3)],
                                       mode="add", flags=["\\Deleted"]),
            contract.StoreFlagsReply,
        )  # fmt: skip
        await s.call(contract.ExpungeRequest(account=alice, mailbox="INBOX"), contract.ExpungeReply)
        await s.deliver(simple("m3"), alice)
        after = await s.uids(alice)
        assert after.uids == [1, 2, 4] and after.uidnext == 5
        assert after.highest_modseq > first.highest_modseq


async def test_copy_keeps_one_blob_and_counts_quota(suite: StorageSuite) -> None:
    alice = suite.new_account()
    async with storage_client(suite) as s:
        await s.deliver(MESSAGE, alice)
        copied = await s.call(
            contract.CopyRequest(account=alice, mailbox="INBOX", uids=[contract.UidRange(first=1)], target="Drafts"),
            contract.CopyReply,
        )
        assert copied.target_uids == [1]
        quota = await s.call(contract.QuotaRequest(account=alice), contract.QuotaReply)
        assert quota.messages_used == 2 and quota.bytes_used == 2 * len(MESSAGE)
        a = (await s.fetch(alice, items=["blob"])).messages[0].blob
        b = (await s.fetch(alice, "Drafts", items=["blob"])).messages[0].blob
        assert a == b


async def test_one_body_for_many_recipients_and_per_recipient_results(suite: StorageSuite) -> None:
    alice, bob = suite.new_account(), suite.new_account(quota_messages=0)
    async with storage_client(suite) as s:
        reply = await s.deliver(MESSAGE, alice, bob, "ghost@nowhere.test")
        by_account = {r.account: r for r in reply.results}
        assert by_account[alice].ok
        assert not by_account[bob].ok and by_account[bob].error == OverQuota.code
        assert not by_account["ghost@nowhere.test"].ok and by_account["ghost@nowhere.test"].error == "not_found"
        assert (await s.uids(alice)).uids == [1]


async def test_quota_on_append(suite: StorageSuite) -> None:
    carol = suite.new_account(quota_bytes=len(MESSAGE) + 10)
    async with storage_client(suite) as s:
        await s.append(carol, "INBOX", MESSAGE)
        with pytest.raises(OverQuota):
            await s.append(carol, "INBOX", MESSAGE)


async def test_mailbox_management(suite: StorageSuite) -> None:
    alice = suite.new_account()
    async with storage_client(suite) as s:
        created = await s.call(contract.MailboxCreateRequest(account=alice, name="Projects/2026"), contract.MailboxInfo)
        assert created.uidnext == 1
        await s.call(contract.MailboxCreateRequest(account=alice, name="Projects/2026/Q4"), contract.MailboxInfo)
        with pytest.raises(MailboxExists):
            await s.call(contract.MailboxCreateRequest(account=alice, name="Projects/2026"), contract.MailboxInfo)
        await s.append(alice, "Projects/2026/Q4", simple("deep"))
        renamed = await s.call(
            contract.MailboxRenameRequest(account=alice, name="Projects/2026", new_name="Old/2026"),
            contract.MailboxInfo,
        )
        assert renamed.name == "Old/2026"
        assert (await s.uids(alice, "Old/2026/Q4")).uids == [1]
        with pytest.raises(MailboxNotFound):
            await s.uids(alice, "Projects/2026/Q4")
        await s.call(contract.MailboxDeleteRequest(account=alice, name="Old/2026/Q4"), contract.Done)
        with pytest.raises(MailboxNotFound):
            await s.uids(alice, "Old/2026/Q4")
        assert (await s.call(contract.QuotaRequest(account=alice), contract.QuotaReply)).messages_used == 0
        inbox_lower = await s.call(contract.MailboxStatusRequest(account=alice, name="inbox"), contract.MailboxInfo)
        assert inbox_lower.name == "INBOX"


@pytest.mark.parametrize("name", ["a/../b", "..", "a//b", "/a", "a/", "bad\x00name", "tab\tname", "x*", "%", "a/./b"])
async def test_bad_mailbox_names_are_refused(suite: StorageSuite, name: str) -> None:
    alice = suite.new_account() if "alice" not in suite.extra else suite.extra["alice"]
    suite.extra["alice"] = alice
    async with storage_client(suite) as s:
        with pytest.raises(InvalidName):
            await s.call(contract.MailboxCreateRequest(account=str(alice), name=name), contract.MailboxInfo)


async def test_changes_are_published(suite: StorageSuite) -> None:
    alice = suite.new_account()
    async with storage_client(suite) as s:
        events: asyncio.Queue[contract.MailboxChanged] = asyncio.Queue()

        async def collect(msg) -> None:  # type: ignore[no-untyped-def]
            await events.put(contract.MailboxChanged.model_validate_json(msg.data))

        await s.bus.nc.subscribe(contract.mailbox_changed_subject(alice), cb=collect)
        await s.bus.nc.flush()
        await s.deliver(simple("hi"), alice)
        added = await asyncio.wait_for(events.get(), 5)
        assert (added.kind, added.mailbox, added.uids) == (contract.ChangeKind.ADDED, "INBOX", [1])
        await s.call(
            contract.StoreFlagsRequest(account=alice, mailbox="INBOX", uids=[contract.UidRange(first=1)],
                                       mode="replace", flags=["\\Flagged"]),
            contract.StoreFlagsReply,
        )  # fmt: skip
        flagged = await asyncio.wait_for(events.get(), 5)
        assert flagged.kind == contract.ChangeKind.FLAGS and flagged.modseq > added.modseq


async def test_condstore_unchanged_since(suite: StorageSuite) -> None:
    alice = suite.new_account()
    async with storage_client(suite) as s:
        await s.deliver(simple("a"), alice)
        await s.deliver(simple("b"), alice)
        before = await s.fetch(alice, items=["flags", "modseq"])
        await s.call(
            contract.StoreFlagsRequest(account=alice, mailbox="INBOX", uids=[contract.UidRange(first=2)],
                                       mode="add", flags=["\\Seen"]),
            contract.StoreFlagsReply,
        )  # fmt: skip
        reply = await s.call(
            contract.StoreFlagsRequest(account=alice, mailbox="INBOX", uids=[contract.UidRange(first=1, last=2)],
                                       mode="add", flags=["\\Flagged"],
                                       unchanged_since=max(m.modseq for m in before.messages)),
            contract.StoreFlagsReply,
        )  # fmt: skip
        assert reply.modified == [2] and [c.uid for c in reply.changed] == [1]
        changed = await s.fetch(alice, items=["flags"], changed_since=max(m.modseq for m in before.messages))
        assert {m.uid for m in changed.messages} == {1, 2}


async def test_missing_blob_is_a_clear_error(suite: StorageSuite) -> None:
    alice = suite.new_account()
    async with storage_client(suite) as s:
        reply = await s.bus.nc.request(
            contract.RPC_DELIVER,
            contract.DeliverRequest(blob="0" * 64, recipients=[contract.DeliveryTarget(account=alice)])
            .model_dump_json()
            .encode(),
            timeout=10,
        )
        assert reply.headers["Nats-Service-Error-Code"] == "no_such_blob"


async def test_large_fetches_come_in_pages(suite: StorageSuite) -> None:
    alice = suite.new_account()
    async with storage_client(suite) as s:
        for i in range(7):
            await s.deliver(simple(f"page {i}"), alice)
        first = await s.fetch(alice, items=["flags", "envelope"], limit=3)
        assert [m.uid for m in first.messages] == [1, 2, 3] and first.next_uid == 4
        rest = await s.fetch(alice, first=first.next_uid, items=["flags"], limit=10)
        assert [m.uid for m in rest.messages] == [4, 5, 6, 7] and rest.next_uid is None


async def test_search_keys(suite: StorageSuite) -> None:
    alice = suite.new_account()
    old = b"From: Carol <carol@example.org>\r\nTo: team@example.test\r\nSubject: Budget 2025\r\n"
    old += b"Date: Mon, 02 Jun 2025 09:00:00 +0000\r\nX-Priority: 1\r\n\r\nShort.\r\n"
    new = b"From: dave@example.net\r\nSubject: Lunch\r\nDate: Wed, 25 Nov 2026 12:00:00 +0000\r\n\r\n"
    new += b"A much longer body about lunch plans " * 50 + b"\r\n"
    async with storage_client(suite) as s:
        await s.append(alice, "INBOX", old, internal_date="2025-06-02T09:00:00+00:00", flags=["\\Answered"])
        await s.append(alice, "INBOX", new, internal_date="2026-11-25T12:00:00+00:00")
        cases = [
            ({"op": "before", "value": "2026-01-01"}, [1]),
            ({"op": "since", "value": "2026-11-25"}, [2]),
            ({"op": "on", "value": "2025-06-02"}, [1]),
            ({"op": "sentbefore", "value": "2025-06-03"}, [1]),
            ({"op": "senton", "value": "2026-11-25"}, [2]),
            ({"op": "larger", "value": 1000}, [2]),
            ({"op": "smaller", "value": 1000}, [1]),
            ({"op": "answered"}, [1]),
            ({"op": "unanswered"}, [2]),
            ({"op": "or", "keys": [{"op": "from", "value": "carol"}, {"op": "subject", "value": "lunch"}]}, [1, 2]),
            ({"op": "and", "keys": [{"op": "from", "value": "carol"}, {"op": "subject", "value": "lunch"}]}, []),
            ({"op": "to", "value": "TEAM@"}, [1]),
            ({"op": "header", "field": "Subject", "value": "budget"}, [1]),
            ({"op": "header", "field": "X-Priority", "value": "1"}, [1]),
            ({"op": "uid", "uids": [{"first": 2, "last": 2}]}, [2]),
            ({"op": "text", "value": "carol"}, [1]),
            ({"op": "body", "value": "carol"}, []),
            ({"op": "body", "value": "lunch plans"}, [2]),
            ({"op": "subject", "value": "100%_"}, []),
            ({"op": "all"}, [1, 2]),
        ]
        for criteria, expected in cases:
            assert await s.search(alice, criteria) == expected, criteria
        plain = await s.call(
            contract.SearchRequest(account=alice, mailbox="INBOX", criteria=contract.SearchKey(op="all")),
            contract.SearchReply,
        )
        assert plain.highest_modseq is None, "worked out only for a MODSEQ search"
        status = await s.uids(alice)
        with_modseq = await s.call(
            contract.SearchRequest(account=alice, mailbox="INBOX", criteria=contract.SearchKey(op="modseq", value=0)),
            contract.SearchReply,
        )
        assert with_modseq.uids == [1, 2] and with_modseq.highest_modseq == status.highest_modseq
        with pytest.raises(BadRequest):
            await s.search(alice, {"op": "before", "value": "not a date"})
        with pytest.raises(BadRequest):
            await s.search(alice, {"op": "not", "keys": []})


async def test_fetch_answers_every_item_in_columns(suite: StorageSuite) -> None:
    alice = suite.new_account()
    raw = b"From: Carol <carol@example.org>\r\nSubject: Columns\r\nDate: Mon, 02 Jun 2025 09:00:00 +0200\r\n\r\nHi.\r\n"
    async with storage_client(suite) as s:
        await s.append(alice, "INBOX", raw, internal_date="2025-06-02T09:00:00+00:00",
                       flags=["\\Draft", "$Label1", "\\Seen", "Work"])  # fmt: skip
        await s.append(alice, "INBOX", simple("plain"))
        items = ["flags", "envelope", "structure", "headers", "internal_date", "size", "blob", "modseq"]
        reply = await s.fetch(alice, items=items, limit=1)
        assert reply.schema_version == 2 and reply.uid == [1] and reply.next_uid == 2
        [meta] = reply.messages
        assert meta.flags == ["\\Seen", "\\Draft", "$Label1", "Work"]  # system flags first, keywords as spelt
        assert meta.internal_date == datetime(2025, 6, 2, 9, tzinfo=UTC) and meta.size == len(raw)
        assert datetime.fromisoformat(meta.headers["sent_date"]) == datetime(2025, 6, 2, 7, tzinfo=UTC)
        assert meta.headers["subject"] == "Columns" and meta.envelope_dict()["subject"] == "Columns"
        assert meta.structure_dict()["root"]["subtype"] == "plain" and len(meta.blob) == 64

        second = await s.fetch(alice, first=2, items=["flags", "internal_date"])
        assert [(m.uid, m.flags, m.envelope) for m in second.messages] == [(2, [], None)]
        assert second.envelope is None and second.next_uid is None
        nothing = await s.fetch(alice, first=3, items=items)
        assert nothing.uid == [] and nothing.flags == [] and nothing.headers == [] and nothing.messages == []
