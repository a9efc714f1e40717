"""The other users' namespace and how rights become IMAP answers (no I/O)."""

import pytest

from libs.contracts import errors
from libs.contracts import storage as contract
from services.imap._acl import permanent_flags, read_only, with_obsolete
from services.imap._mailboxes import SYSTEM_FLAGS
from services.imap._shared import Location, as_seen_by, locate

BOB = "bob@example.test"


def test_names_outside_the_namespace_are_ones_own() -> None:
    assert locate(BOB, "INBOX") == Location(BOB, "INBOX")
    assert locate(BOB, "Other Users Club/x") == Location(BOB, "Other Users Club/x")


def test_shared_names_point_at_the_owner_with_the_session_as_actor() -> None:
    where = locate(BOB, "Other Users/Alice@Example.test/Projects/2026")
    assert where == Location("alice@example.test", "Projects/2026", actor=BOB) and where.shared
    # One's own mailbox reached through the namespace is still one's own.
    assert locate(BOB, f"Other Users/{BOB}/INBOX") == Location(BOB, "INBOX")


@pytest.mark.parametrize(
    "name",
    [
        "Other Users", "Other Users/", "Other Users/alice@example.test", "Other Users//x",
        "Other Users/../../etc", "Other Users/@/x", "Other Users/alice@/x", f"Other Users/{'a' * 320}@x.test/x",
    ],
)  # fmt: skip
def test_levels_of_the_namespace_are_not_mailboxes(name: str) -> None:
    with pytest.raises(errors.MailboxNotFound):
        locate(BOB, name)


def test_an_owners_event_is_renamed_into_the_namespace() -> None:
    event = contract.MailboxChanged(
        account="alice@example.test", mailbox="Projects", mailbox_id=3, uidvalidity=9,
        kind=contract.ChangeKind.MAILBOX_RENAMED, new_name="Archive/Projects",
    )  # fmt: skip
    seen = as_seen_by(BOB, event)
    assert (seen.mailbox, seen.new_name) == (
        "Other Users/alice@example.test/Projects",
        "Other Users/alice@example.test/Archive/Projects",
    )
    assert as_seen_by("alice@example.test", event) is event


def test_rights_shape_select() -> None:
    assert read_only("lr") and read_only("lrip") and not read_only("lrs") and not read_only("lre")
    assert permanent_flags("lrs", SYSTEM_FLAGS) == ["\\Seen"]
    assert permanent_flags("lrt", SYSTEM_FLAGS) == ["\\Deleted"]
    assert permanent_flags("lrw", SYSTEM_FLAGS) == ["\\Answered", "\\Flagged", "\\Draft", "\\*"]
    assert permanent_flags(contract.ALL_RIGHTS, SYSTEM_FLAGS) == [*SYSTEM_FLAGS, "\\*"]


def test_obsolete_rights_are_added_for_old_clients() -> None:
    assert with_obsolete("lr") == "lr"
    assert with_obsolete("lrkx") == "lrkxc"
    assert with_obsolete("lrxte") == "lrxted"
    assert with_obsolete(contract.ALL_RIGHTS) == "lrswipkxteacd"
