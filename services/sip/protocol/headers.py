"""Header field names, compact forms, and the ordered field list of a message.

Each field keeps the text it arrived with (``raw``: name, colon, value and any
folding, lines joined by CRLF), so a message that is forwarded is written
back byte for byte except where the code changed it; a field added or
replaced by code has no ``raw`` and is written as ``Name: value`` with the
canonical name. ``value`` is the unfolded value (RFC 3261 section 7.3.1: each
``LWS`` is one SP) without leading and trailing whitespace.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from .grammar import split_list

#: RFC 3261 section 7.3.3 and the IANA registry's compact forms of extensions.
COMPACT_FORMS = {
    "a": "Accept-Contact",  # RFC 3841
    "b": "Referred-By",  # RFC 3892
    "c": "Content-Type",
    "d": "Request-Disposition",  # RFC 3841
    "e": "Content-Encoding",
    "f": "From",
    "i": "Call-ID",
    "j": "Reject-Contact",  # RFC 3841
    "k": "Supported",
    "l": "Content-Length",
    "m": "Contact",
    "n": "Identity-Info",  # RFC 4474 (obsoleted by RFC 8224, still seen)
    "o": "Event",  # RFC 6665
    "r": "Refer-To",  # RFC 3515
    "s": "Subject",
    "t": "To",
    "u": "Allow-Events",  # RFC 6665
    "v": "Via",
    "x": "Session-Expires",  # RFC 4028
    "y": "Identity",  # RFC 8224
}

_KNOWN = [
    # RFC 3261 section 20
    "Accept", "Accept-Encoding", "Accept-Language", "Alert-Info", "Allow", "Authentication-Info",
    "Authorization", "Call-ID", "Call-Info", "Contact", "Content-Disposition", "Content-Encoding",
    "Content-Language", "Content-Length", "Content-Type", "CSeq", "Date", "Error-Info", "Expires", "From",
    "In-Reply-To", "Max-Forwards", "Min-Expires", "MIME-Version", "Organization", "Priority",
    "Proxy-Authenticate", "Proxy-Authorization", "Proxy-Require", "Record-Route", "Reply-To", "Require",
    "Retry-After", "Route", "Server", "Subject", "Supported", "Timestamp", "To", "Unsupported", "User-Agent",
    "Via", "Warning", "WWW-Authenticate",
    # common extensions
    "Accept-Contact", "Reject-Contact", "Request-Disposition", "Referred-By", "Refer-To", "Replaces",
    "Event", "Allow-Events", "Subscription-State", "Session-Expires", "Min-SE", "RSeq", "RAck", "Path",
    "Service-Route", "P-Asserted-Identity", "P-Preferred-Identity", "Privacy", "Identity", "Identity-Info",
    "SIP-ETag", "SIP-If-Match", "Flow-Timer", "Reason", "History-Info", "Diversion", "Security-Client",
    "Security-Server", "Security-Verify", "Target-Dialog", "Join", "Max-Breadth", "Content-ID",
    "Geolocation", "Geolocation-Routing", "Feature-Caps", "Recv-Info", "Info-Package", "Refer-Sub",
    "User-to-User", "Answer-Mode", "Priv-Answer-Mode", "Suppress-If-Match", "Accept-Resource-Priority",
    "Resource-Priority", "Permission-Missing", "Trigger-Consent", "Policy-Contact", "Policy-ID",
]  # fmt: skip
CANONICAL_NAMES = {name.lower(): name for name in _KNOWN} | {k: v for k, v in COMPACT_FORMS.items()}

#: Fields whose value is a comma-separated list, so several values may share one
#: field or be spread over repeated fields (RFC 3261 section 7.3.1).
LIST_FIELDS = frozenset(
    name.lower()
    for name in (
        "Accept", "Accept-Encoding", "Accept-Language", "Alert-Info", "Allow", "Allow-Events", "Call-Info",
        "Contact", "Content-Encoding", "Content-Language", "Error-Info", "In-Reply-To", "Path",
        "Proxy-Require", "Record-Route", "Require", "Route", "Service-Route", "Supported", "Unsupported",
        "Via", "Warning", "P-Asserted-Identity", "History-Info", "Accept-Contact", "Reject-Contact",
        "Request-Disposition", "Security-Client", "Security-Server", "Security-Verify", "Reason",
    )
)  # fmt: skip


@lru_cache(maxsize=1024)
def canonical_name(name: str) -> str:
    """The long form of a field name, in its usual spelling; unknown names as given."""
    return CANONICAL_NAMES.get(name.lower(), name)


@lru_cache(maxsize=1024)
def _key(name: str) -> str:
    """How a field name is matched: its canonical long form, lower case."""
    return canonical_name(name).lower()


class HeaderField:
    """One header field line (folded lines included)."""

    __slots__ = ("name", "key", "value", "raw", "parsed")

    def __init__(self, name: str, value: str, raw: str | None = None) -> None:
        self.name = canonical_name(name)
        self.key = _key(name)
        self.value = value
        self.raw = raw
        #: The typed value, filled once by the message's accessors.
        self.parsed: Any = None

    def __repr__(self) -> str:
        return f"HeaderField({self.name!r}, {self.value!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, HeaderField) and (self.key, self.value) == (other.key, other.value)

    def to_text(self) -> str:
        return self.raw if self.raw is not None else f"{self.name}: {self.value}"


class Headers:
    """The ordered header fields of a message. Names are matched case-insensitively, compact forms expanded."""

    __slots__ = ("fields",)

    def __init__(self, fields: list[HeaderField] | None = None) -> None:
        self.fields: list[HeaderField] = fields if fields is not None else []

    def __iter__(self) -> Iterator[HeaderField]:
        return iter(self.fields)

    def __len__(self) -> int:
        return len(self.fields)

    def __contains__(self, name: str) -> bool:
        key = _key(name)
        for f in self.fields:
            if f.key == key:
                return True
        return False

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Headers) and self.fields == other.fields

    def copy(self) -> Headers:
        copies = []
        for f in self.fields:
            field = HeaderField(f.name, f.value, f.raw)
            field.parsed = f.parsed
            copies.append(field)
        return Headers(copies)

    def find(self, name: str) -> list[HeaderField]:
        key = _key(name)
        return [f for f in self.fields if f.key == key]

    def get(self, name: str) -> str | None:
        """The value of the first field named ``name``."""
        key = _key(name)
        for f in self.fields:
            if f.key == key:
                return f.value
        return None

    def get_all(self, name: str) -> list[str]:
        """The values of every field named ``name``, one per field line."""
        return [f.value for f in self.find(name)]

    def values(self, name: str) -> list[str]:
        """Every element of a list field, across repeated fields (``Via: a, b`` + ``Via: c`` → a, b, c)."""
        out: list[str] = []
        for value in self.get_all(name):
            out.extend(split_list(value))
        return out

    def add(self, name: str, value: str) -> None:
        """Append a field at the end."""
        self.fields.append(HeaderField(name, value))

    def insert_first(self, name: str, value: str) -> None:
        """Insert a field before the first one of the same name (Via, Record-Route), or at the end."""
        key = canonical_name(name).lower()
        for index, f in enumerate(self.fields):
            if f.key == key:
                self.fields.insert(index, HeaderField(name, value))
                return
        self.add(name, value)

    def remove(self, name: str) -> int:
        """Remove every field named ``name``; return how many."""
        key = canonical_name(name).lower()
        before = len(self.fields)
        self.fields = [f for f in self.fields if f.key != key]
        return before - len(self.fields)

    def set(self, name: str, value: str) -> None:
        """Replace every field named ``name`` by one, where the first one was (or at the end)."""
        key = canonical_name(name).lower()
        for index, f in enumerate(self.fields):
            if f.key == key:
                self.fields[index] = HeaderField(name, value)
                self.fields = [g for i, g in enumerate(self.fields) if g.key != key or i == index]
                return
        self.add(name, value)

    def pop_first_value(self, name: str) -> str | None:
        """Remove the first element of a list field (the top Via, the first Route) and return it.

        The field keeps its other elements (rewritten without the removed one),
        or disappears when it had only that one.
        """
        key = canonical_name(name).lower()
        for index, f in enumerate(self.fields):
            if f.key == key:
                items = split_list(f.value)
                if len(items) == 1:
                    del self.fields[index]
                else:
                    self.fields[index] = HeaderField(f.name, ", ".join(items[1:]))
                return items[0]
        return None

    def replace_first_value(self, name: str, value: str) -> bool:
        """Replace the first element of a list field (the top Via after adding received/rport).

        Only that field is rewritten; returns False when there is no such field.
        """
        key = canonical_name(name).lower()
        for index, f in enumerate(self.fields):
            if f.key == key:
                items = split_list(f.value)
                self.fields[index] = HeaderField(f.name, ", ".join([value, *items[1:]]))
                return True
        return False
