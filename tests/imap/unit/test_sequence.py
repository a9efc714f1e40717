"""Sequence sets: parsing, writing back, and resolving ``*``."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.imap.protocol.sequence import SeqRange, SequenceSet

numbers = st.one_of(st.none(), st.integers(min_value=1, max_value=4294967295))
ranges = st.builds(SeqRange, numbers, numbers)
sets = st.one_of(
    st.just(SequenceSet(saved=True)), st.lists(ranges, min_size=1, max_size=20).map(tuple).map(SequenceSet)
)


@settings(deadline=None)  # no timing assertions: the machine may be busy
@given(sets)
def test_text_round_trip(value: SequenceSet) -> None:
    assert SequenceSet.parse(str(value)) == value


def test_resolve() -> None:
    assert list(SequenceSet.parse("2,4:7,9,12:*").resolve(14)) == [2, 4, 5, 6, 7, 9, 12, 13, 14]
    assert list(SequenceSet.parse("*:4,5:7").resolve(10)) == [4, 5, 6, 7, 8, 9, 10]
    assert list(SequenceSet.parse("1:*").resolve(0)) == []
    assert list(SequenceSet.parse("3,3,2:3").resolve(5)) == [2, 3]
    with pytest.raises(ValueError):
        SequenceSet.parse("$").resolve(3)


@pytest.mark.parametrize("bad", ["", "0", "1:0", "01", "1::2", "a", "1,", "4294967296", "$,1", "1:2:3"])
def test_invalid(bad: str) -> None:
    with pytest.raises(ValueError):
        SequenceSet.parse(bad)
