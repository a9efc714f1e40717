"""Shared mailboxes through the storage contract: access control lists (RFC 4314) and every
operation acting on another owner's mailbox with the rights checked, on each database."""

from __future__ import annotations

from typing import Any

import pytest

from libs.contracts import storage as contract
from libs.contracts.errors import BadRequest, Forbidden, MailboxNotFound
from tests.storage.client import StorageClient, storage_client
from tests.storage.conftest import StorageSuite

pytestmark = pytest.mark.timeout(120)

MESSAGE = b"From: alice@example.test\r\nSubject: Plans for the launch\r\n\r\nThe launch is on Monday.\r\n"
ALL = contract.UidRange(first=1)


async def set_acl(s: StorageClient, owner: str, mailbox: str, identifier: str, rights: str, **extra: Any) -> list:
    request = contract.AclSetRequest(account=owner, mailbox=mailbox, identifier=identifier, rights=rights, **extra)
    return (await s.call(request, contract.AclReply)).entries


async def my_rights(s: StorageClient, owner: str, mailbox: str, actor: str) -> str:
    request = contract.MyRightsRequest(account=owner, mailbox=mailbox, actor=actor)
    return (await s.call(request, contract.MyRightsReply)).rights


async def shared_with(s: StorageClient, account: str) -> list[tuple[str, str, str]]:
    reply = await s.call(contract.SharedListRequest(account=account, with_counts=True), contract.SharedListReply)
    return [(m.owner, m.mailbox.name, m.rights) for m in reply.mailboxes]


async def store(s: StorageClient, owner: str, mailbox: str, actor: str, mode: str, *flags: str) -> list:
    request = contract.StoreFlagsRequest(
        account=owner, actor=actor, mailbox=mailbox, uids=[ALL], mode=mode, flags=list(flags)
    )
    return (await s.call(request, contract.StoreFlagsReply)).changed


async def flags_of(s: StorageClient, owner: str, mailbox: str) -> list[list[str]]:
    return [m.flags for m in (await s.fetch(owner, mailbox)).messages]


async def test_alice_shares_a_folder_with_bob_read_only(suite: StorageSuite) -> None:
    alice, bob, carol = suite.new_account(), suite.new_account(), suite.new_account()
    async with storage_client(suite) as s:
        await s.call(contract.MailboxCreateRequest(account=alice, name="Projects"), contract.MailboxInfo)
        await s.append(alice, "Projects", MESSAGE)

        # Not shared yet: bob learns nothing, not even that it exists.
        with pytest.raises(MailboxNotFound):
            await s.call(contract.UidsRequest(account=alice, mailbox="Projects", actor=bob), contract.UidsReply)
        assert await shared_with(s, bob) == []

        entries = await set_acl(s, alice, "Projects", bob.upper(), "lr")
        assert [(e.identifier, e.rights) for e in entries] == [(alice, "lrswipkxtea"), (bob, "lr")]
        assert await shared_with(s, bob) == [(alice, "Projects", "lr")]
        assert await my_rights(s, alice, "Projects", bob) == "lr"
        assert await my_rights(s, alice, "Projects", alice) == "lrswipkxtea"

        listing = await s.call(contract.UidsRequest(account=alice, mailbox="Projects", actor=bob), contract.UidsReply)
        assert listing.uids == [1]
        [meta] = (await s.fetch(alice, "Projects", items=["flags", "blob"], actor=bob)).messages
        assert await s.blobs.get(meta.blob) == MESSAGE
        request = contract.SearchRequest(account=alice, mailbox="Projects", actor=bob,
                                         criteria=contract.SearchKey(op="body", value="Monday"))  # fmt: skip
        assert (await s.call(request, contract.SearchReply)).uids == [1]
        status = contract.MailboxStatusRequest(account=alice, name="Projects", actor=bob)
        assert (await s.call(status, contract.MailboxInfo)).messages == 1

        # Read-only: no flag, no insert, no expunge, no administration, no delete.
        with pytest.raises(Forbidden):
            await store(s, alice, "Projects", bob, "add", "\\Flagged")
        with pytest.raises(Forbidden):
            await s.append(alice, "Projects", MESSAGE, actor=bob)
        with pytest.raises(Forbidden):
            await s.call(contract.ExpungeRequest(account=alice, mailbox="Projects", actor=bob), contract.ExpungeReply)
        with pytest.raises(Forbidden):
            await s.call(contract.AclGetRequest(account=alice, mailbox="Projects", actor=bob), contract.AclReply)
        with pytest.raises(Forbidden):
            await s.call(contract.MailboxDeleteRequest(account=alice, name="Projects", actor=bob), contract.Done)
        assert await flags_of(s, alice, "Projects") == [[]]

        # A third account sees nothing, whatever it asks.
        assert await shared_with(s, carol) == []
        for request, reply in [
            (contract.UidsRequest(account=alice, mailbox="Projects", actor=carol), contract.UidsReply),
            (contract.MyRightsRequest(account=alice, mailbox="Projects", actor=carol), contract.MyRightsReply),
            (contract.MailboxStatusRequest(account=alice, name="Projects", actor=carol), contract.MailboxInfo),
            (contract.AclGetRequest(account=alice, mailbox="Projects", actor=carol), contract.AclReply),
        ]:
            with pytest.raises(MailboxNotFound):
                await s.call(request, reply)

        # Bob copies the message into his own INBOX: r on the source is enough.
        copy = contract.CopyRequest(account=alice, actor=bob, mailbox="Projects", uids=[ALL], target="INBOX",
                                    target_account=bob)  # fmt: skip
        copied = await s.call(copy, contract.CopyReply)
        assert copied.source_uids == [1] and (await s.uids(bob)).uids == copied.target_uids
        assert (await s.uids(alice, "Projects")).uids == [1]

        await s.call(contract.AclDeleteRequest(account=alice, mailbox="Projects", identifier=bob), contract.AclReply)
        assert await shared_with(s, bob) == []
        with pytest.raises(MailboxNotFound):
            await s.fetch(alice, "Projects", actor=bob)


async def test_rights_for_flags_insert_expunge_and_move(suite: StorageSuite) -> None:
    alice, bob = suite.new_account(), suite.new_account()
    async with storage_client(suite) as s:
        await s.call(contract.MailboxCreateRequest(account=alice, name="Team"), contract.MailboxInfo)
        await s.append(alice, "Team", MESSAGE)

        # s only: \Seen changes, \Flagged (needs w) is left as it was.
        await set_acl(s, alice, "Team", bob, "lrs")
        await store(s, alice, "Team", bob, "add", "\\Seen", "\\Flagged", "$Later")
        assert await flags_of(s, alice, "Team") == [["\\Seen"]]

        # i: bob appends; the flags he may not set are dropped.
        await set_acl(s, alice, "Team", bob, "i", mode="add")
        appended = await s.append(alice, "Team", MESSAGE, actor=bob, flags=["\\Seen", "\\Flagged"])
        assert appended.uid == 2
        assert await flags_of(s, alice, "Team") == [["\\Seen"], ["\\Seen"]]

        # Expunge needs e, and \Deleted needs t.
        with pytest.raises(Forbidden):
            await s.call(contract.ExpungeRequest(account=alice, mailbox="Team", actor=bob), contract.ExpungeReply)
        await set_acl(s, alice, "Team", bob, "te", mode="add")
        assert await my_rights(s, alice, "Team", bob) == "lrsite"
        await store(s, alice, "Team", bob, "add", "\\Deleted")
        expunged = await s.call(contract.ExpungeRequest(account=alice, mailbox="Team", actor=bob, uids=[
            contract.UidRange(first=1, last=1)]), contract.ExpungeReply)  # fmt: skip
        assert expunged.expunged == [1]

        # MOVE from the shared mailbox to bob's own needs r, t and e there; it has them now.
        move = contract.MoveRequest(account=alice, actor=bob, mailbox="Team", uids=[ALL], target="INBOX",
                                    target_account=bob)  # fmt: skip
        moved = await s.call(move, contract.CopyReply)
        assert moved.expunged == [2] and (await s.uids(alice, "Team")).uids == []
        # ... and into alice's mailbox it needs i, which her INBOX does not give him.
        back = contract.MoveRequest(account=bob, actor=bob, mailbox="INBOX", uids=[ALL], target="INBOX",
                                    target_account=alice)  # fmt: skip
        with pytest.raises(MailboxNotFound):
            await s.call(back, contract.CopyReply)

        # Removing rights: "-" of SETACL.
        await set_acl(s, alice, "Team", bob, "ite", mode="remove")
        assert await my_rights(s, alice, "Team", bob) == "lrs"


async def test_children_admin_and_bad_input(suite: StorageSuite) -> None:
    alice, bob, carol = suite.new_account(), suite.new_account(), suite.new_account()
    async with storage_client(suite) as s:
        await s.call(contract.MailboxCreateRequest(account=alice, name="Shared"), contract.MailboxInfo)

        with pytest.raises(BadRequest):
            await set_acl(s, alice, "Shared", bob, "lrz")  # no such right
        with pytest.raises(BadRequest):
            await set_acl(s, alice, "Shared", "nobody@nowhere.test", "lr")  # no such account
        with pytest.raises(BadRequest):
            await set_acl(s, alice, "Shared", alice, "lr")  # the owner's rights are fixed
        with pytest.raises(BadRequest):
            await set_acl(s, alice, "Shared", f"-{bob}", "lr")  # negative rights
        with pytest.raises(MailboxNotFound):
            await set_acl(s, alice, "Shared", carol, "lr", actor=bob)  # bob may not even see it

        # Obsolete "c" stands for k and x (RFC 4314 section 2.1.1).
        await set_acl(s, alice, "Shared", bob, "lrc")
        assert await my_rights(s, alice, "Shared", bob) == "lrkx"
        with pytest.raises(Forbidden):
            await set_acl(s, alice, "Shared", carol, "lr", actor=bob)  # no a

        # k: bob creates a child, which inherits the parent's list, so he sees it.
        child = contract.MailboxCreateRequest(account=alice, name="Shared/Bob", actor=bob)
        await s.call(child, contract.MailboxInfo)
        assert await my_rights(s, alice, "Shared/Bob", bob) == "lrkx"
        with pytest.raises(Forbidden):
            await s.call(contract.MailboxCreateRequest(account=alice, name="Top", actor=bob), contract.MailboxInfo)

        # a: bob administers, and grants anyone lookup; carol then sees it.
        await set_acl(s, alice, "Shared", bob, "a", mode="add")
        await set_acl(s, alice, "Shared", "ANYONE", "l", actor=bob)
        assert await shared_with(s, carol) == [(alice, "Shared", "l")]
        with pytest.raises(Forbidden):  # l without r: existence only
            await s.call(contract.UidsRequest(account=alice, mailbox="Shared", actor=carol), contract.UidsReply)

        # x: bob deletes the child; the list goes with it.
        await s.call(contract.MailboxDeleteRequest(account=alice, name="Shared/Bob", actor=bob), contract.Done)
        assert (alice, "Shared/Bob", "lrkx") not in await shared_with(s, bob)
        names = await s.call(contract.MailboxListRequest(account=alice), contract.MailboxListReply)
        assert "Shared/Bob" not in {m.name for m in names.mailboxes}
