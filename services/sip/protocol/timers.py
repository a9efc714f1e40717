"""The transaction timers' base values (RFC 3261 section 17.1.1.1 and Table 4).

T1 is the round-trip estimate, T2 the cap on retransmission intervals of
non-INVITE requests and INVITE responses, T4 how long a message may live in
the network. Everything else derives from them:

| timer | value | what |
|---|---|---|
| A | T1, doubling | INVITE request retransmission (unreliable transports) |
| B | 64*T1 | INVITE client transaction timeout |
| D | 32 s (unreliable), 0 | wait for final response retransmissions |
| E | T1, doubling up to T2 | non-INVITE request retransmission (unreliable) |
| F | 64*T1 | non-INVITE client transaction timeout |
| G | T1, doubling up to T2 | INVITE final response retransmission (unreliable) |
| H | 64*T1 | wait for ACK |
| I | T4 (unreliable), 0 | absorb ACK retransmissions |
| J | 64*T1 (unreliable), 0 | absorb non-INVITE request retransmissions |
| K | T4 (unreliable), 0 | absorb response retransmissions |
| L | 64*T1 | RFC 6026: INVITE server transaction in Accepted |
| M | 64*T1 | RFC 6026: INVITE client transaction in Accepted |
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TimerConfig:
    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0
    #: Timer D on unreliable transports: "at least 32 seconds" (section 17.1.1.2).
    d: float = 32.0

    def __post_init__(self) -> None:
        if not (0 < self.t1 <= self.t2) or self.t4 <= 0 or self.d < 0:
            raise ValueError("timers must be positive, with T1 <= T2")

    @property
    def timeout(self) -> float:
        """64*T1: timers B, F, H, J (unreliable), L and M."""
        return 64 * self.t1
