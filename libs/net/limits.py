"""Simultaneous connections per client address, in memory (one process's view).

The server refuses a client that opens too many connections at once, before
any protocol work, with the front end's reply (SMTP 421 4.7.0, POP3
-ERR [SYS/TEMP], IMAP * BYE [UNAVAILABLE]); IMAP also counts the sessions of
one account with it.
"""

from __future__ import annotations

from collections import Counter


class ConnectionLimiter:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: Counter[str] = Counter()

    def acquire(self, address: str) -> bool:
        if self._open[address] >= self.limit:
            return False
        self._open[address] += 1
        return True

    def release(self, address: str) -> None:
        self._open[address] -= 1
        if self._open[address] <= 0:
            del self._open[address]
