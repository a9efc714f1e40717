"""How the UPDATE state names messages to storage: merged, ascending UID ranges."""

from services.pop3._mailstore import uid_ranges


def ranges(uids: list[int]) -> list[tuple[int, int | None]]:
    return [(r.first, r.last) for r in uid_ranges(uids)]


def test_consecutive_uids_merge_into_ranges() -> None:
    assert ranges([7, 1, 2, 3, 9, 10]) == [(1, 3), (7, 7), (9, 10)]


def test_duplicates_and_empty_input() -> None:
    assert ranges([5, 5, 5]) == [(5, 5)]
    assert ranges([]) == []
