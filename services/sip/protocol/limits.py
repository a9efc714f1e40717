"""Size and count limits of the parser: what keeps a hostile peer's memory use bounded."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limits:
    #: Octets of one whole message: start line, header fields and body. Over UDP a
    #: datagram cannot be larger than 65,535 octets anyway; over a stream a larger
    #: message gets 513 Message Too Large (RFC 3261 section 21.5.14) and the
    #: connection is closed.
    max_message_size: int = 65535
    #: Header fields of one message (a folded field counts once).
    max_headers: int = 256
    #: Octets of one header field, folded lines together, and of the start line.
    max_header_length: int = 8192

    def __post_init__(self) -> None:
        # RFC 3261 section 18.1.1: a request within 200 octets of 1300 may be sent
        # over UDP, so anything below that refuses ordinary traffic.
        floors = {
            "max_message_size": (self.max_message_size, 1500),
            "max_headers": (self.max_headers, 16),
            "max_header_length": (self.max_header_length, 256),
        }
        for name, (value, floor) in floors.items():
            if value < floor:
                raise ValueError(f"{name} must be at least {floor}, got {value}")
