"""ENVELOPE and BODYSTRUCTURE as nested values, from the metadata storage keeps per message.

Storage parses a message once, at delivery, and keeps its envelope and part
tree as JSON-able dicts (``libs.contracts.storage.MessageMeta``). These
functions turn them into the nested lists of RFC 9051 section 7.4.2 (with
``None`` for NIL), which ``responses.encode_value`` writes on the wire.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class Joined(list):  # type: ignore[type-arg]
    """Body parts of a multipart: written one after another without spaces (``body-type-mpart``)."""


def envelope(data: Mapping[str, Any]) -> list[Any]:
    """ENVELOPE (RFC 9051 section 7.4.2) from the storage metadata dict.

    Keys: ``date``, ``subject``, ``from``, ``sender``, ``reply_to``, ``to``, ``cc``,
    ``bcc``, ``in_reply_to``, ``message_id``; addresses are ``[name, adl, mailbox,
    host]`` lists. RFC 9051 section 7.4.2: an empty sender or reply-to takes the
    value of from.
    """

    def addresses(key: str) -> Any:
        value = data.get(key) or (data.get("from") if key in ("sender", "reply_to") else None)
        return [list(a) for a in value] if value else None

    return [
        data.get("date"),
        data.get("subject"),
        addresses("from"),
        addresses("sender"),
        addresses("reply_to"),
        addresses("to"),
        addresses("cc"),
        addresses("bcc"),
        data.get("in_reply_to"),
        data.get("message_id"),
    ]


def body_structure(part: Mapping[str, Any], *, extensible: bool = True) -> list[Any]:
    """BODYSTRUCTURE (``extensible``) or BODY from the storage part dict (RFC 9051 section 7.4.2)."""
    kind = str(part.get("type", "text")).lower()
    subtype = str(part.get("subtype", "plain")).upper()
    if kind == "multipart":
        children = part.get("children") or []
        out: list[Any] = [body_structure(c, extensible=extensible) for c in children or [_EMPTY_PART]]
        out = [Joined(out), subtype]
        if extensible:
            out += [_params(part.get("params")), *_extension_tail(part)]
        return out
    out = [kind.upper(), subtype, _params(part.get("params")), part.get("id"), part.get("description"),
           str(part.get("encoding") or "7BIT").upper(), int(part.get("size", 0))]  # fmt: skip
    if kind == "message" and subtype in ("RFC822", "GLOBAL"):
        inner = part.get("message")
        out += [envelope(part.get("envelope") or {}),
                body_structure(inner or _EMPTY_PART, extensible=extensible),
                int(part.get("lines") or 0)]  # fmt: skip
    elif kind == "text":
        out.append(int(part.get("lines") or 0))
    if extensible:
        out += [part.get("md5"), *_extension_tail(part)]
    return out


# A multipart without parts, or a message/rfc822 without a body, still needs one (RFC 9051 section 9).
_EMPTY_PART: Mapping[str, Any] = {"type": "text", "subtype": "plain", "size": 0, "lines": 0}


def _params(pairs: Any) -> Any:
    if not pairs:
        return None
    return [v for key, value in pairs for v in (str(key).upper(), value)]


def _extension_tail(part: Mapping[str, Any]) -> list[Any]:
    disposition = part.get("disposition")
    dsp = None if disposition is None else [str(disposition).upper(), _params(part.get("disposition_params"))]
    language = part.get("language") or None
    if language and len(language) == 1:
        language = language[0]
    return [dsp, language, part.get("location")]
