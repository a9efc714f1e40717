"""Sequence sets (RFC 9051 section 9, ``sequence-set``) as values.

``1:*``, ``2,4:7,9``, ``*`` and ``$`` (the result saved by ``SEARCH RETURN
(SAVE)``, RFC 5182). The set is kept as the client wrote it (ranges in its
order, ``*`` as ``None``): what ``*`` and ``$`` mean depends on the mailbox,
which only the service layer knows; ``resolve()`` does that sum once it does.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

# RFC 9051 section 9: nz-number is 1 to 4294967295 (uniqueid and seq-number are 32 bits).
MAX_NUMBER = 4294967295


@dataclass(frozen=True, slots=True)
class SeqRange:
    """``first:last``; ``None`` stands for ``*``. A single number has ``first == last``."""

    first: int | None
    last: int | None

    def __str__(self) -> str:
        first = "*" if self.first is None else str(self.first)
        if self.first == self.last:
            return first
        return f"{first}:{'*' if self.last is None else self.last}"

    def bounds(self, largest: int) -> tuple[int, int]:
        """The inclusive range once ``*`` is known to be ``largest`` (order as RFC 9051 allows)."""
        first = largest if self.first is None else self.first
        last = largest if self.last is None else self.last
        return (first, last) if first <= last else (last, first)


@dataclass(frozen=True, slots=True)
class SequenceSet:
    ranges: tuple[SeqRange, ...] = ()
    #: ``$``: the saved search result (RFC 5182 section 2.1).
    saved: bool = False

    def __post_init__(self) -> None:
        if self.saved == bool(self.ranges):
            raise ValueError("a sequence set is either '$' or at least one range")

    def __str__(self) -> str:
        if self.saved:
            return "$"
        return ",".join(str(r) for r in self.ranges)

    @classmethod
    def of(cls, *numbers: int) -> SequenceSet:
        return cls(tuple(SeqRange(n, n) for n in numbers))

    @classmethod
    def parse(cls, text: str) -> SequenceSet:
        """Parse ``text``; raises ``ValueError`` if it is not a sequence set."""
        if text == "$":
            return cls(saved=True)
        ranges = []
        for item in text.split(","):
            first, sep, last = item.partition(":")
            low = _number(first)
            high = _number(last) if sep else low
            ranges.append(SeqRange(low, high))
        return cls(tuple(ranges))

    def resolve(self, largest: int) -> Iterator[int]:
        """Every number the set names, ascending, without duplicates, ``*`` being ``largest``.

        RFC 9051 section 9 (seq-number) lets ``*`` name the largest number in use; with an empty
        mailbox (``largest == 0``) the set names nothing.
        """
        if self.saved:
            raise ValueError("'$' is resolved by the service layer from the saved result")
        if largest <= 0:
            return iter(())
        merged: list[tuple[int, int]] = []
        for low, high in sorted(r.bounds(largest) for r in self.ranges):
            if merged and low <= merged[-1][1] + 1:
                merged[-1] = (merged[-1][0], max(merged[-1][1], high))
            else:
                merged.append((low, high))
        return (n for low, high in merged for n in range(low, high + 1))


def _number(text: str) -> int | None:
    if text == "*":
        return None
    if not text.isascii() or not text.isdigit() or text.startswith("0"):
        raise ValueError(f"not a sequence number: {text!r}")
    value = int(text)
    if value > MAX_NUMBER:
        raise ValueError(f"sequence number out of range: {text}")
    return value
