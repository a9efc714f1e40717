"""WAV files for prompts and recordings: G.711 (RIFF format 7 µ-law, 6 A-law) or 16-bit PCM, 8 kHz mono.

Prompts arrive as WAV blobs and are converted to the codec the call negotiated; the codecs
themselves (G.711 µ-law and A-law, ITU-T G.711) are done in C by `services.media._relay`.
"""

from __future__ import annotations

import struct

from libs.contracts.errors import BadRequest
from services.media import _relay

FORMAT_PCM = 1
FORMAT_ALAW = 6
FORMAT_ULAW = 7
G711_FORMATS = {"PCMU": FORMAT_ULAW, "PCMA": FORMAT_ALAW}
MAX_PROMPT_BYTES = 16 << 20


def read_wav(data: bytes) -> tuple[int, bytes]:
    """(format, sample bytes) of an 8 kHz mono WAV; anything else is a `BadRequest`."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise BadRequest("the prompt is not a RIFF/WAVE file")
    fmt: tuple[int, int, int, int] | None = None
    offset = 12
    while offset + 8 <= len(data):
        chunk, size = data[offset : offset + 4], struct.unpack_from("<I", data, offset + 4)[0]
        body = data[offset + 8 : offset + 8 + size]
        if chunk == b"fmt " and len(body) >= 16:
            tag, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", body)
            fmt = (tag, channels, rate, bits)
        elif chunk == b"data":
            if fmt is None:
                raise BadRequest("WAV data before its fmt chunk")
            return _check_format(fmt), body
        offset += 8 + size + (size & 1)  # chunks are padded to an even size
    raise BadRequest("WAV file without a data chunk")


def _check_format(fmt: tuple[int, int, int, int]) -> int:
    tag, channels, rate, bits = fmt
    if channels != 1 or rate != 8000:
        raise BadRequest("prompts must be 8 kHz mono")
    if (tag, bits) in ((FORMAT_PCM, 16), (FORMAT_ULAW, 8), (FORMAT_ALAW, 8)):
        return tag
    raise BadRequest(f"WAV format {tag}/{bits} bits is not 16-bit PCM or G.711")


def to_g711(fmt: int, samples: bytes, encoding: str) -> bytes:
    """The samples in the call's G.711 flavour (`PCMU` or `PCMA`)."""
    target = G711_FORMATS.get(encoding.upper())
    if target is None:
        raise BadRequest(f"prompts need a G.711 call (PCMU or PCMA), not {encoding or 'unknown'}")
    if fmt == target:
        return samples
    pcm = samples if fmt == FORMAT_PCM else (_relay.ulaw_decode if fmt == FORMAT_ULAW else _relay.alaw_decode)(samples)
    return _relay.ulaw_encode(pcm) if target == FORMAT_ULAW else _relay.alaw_encode(pcm)


def write_wav(samples: bytes, encoding: str) -> bytes:
    """A WAV file of G.711 samples (RIFF with a fact chunk, as non-PCM formats need)."""
    tag = G711_FORMATS.get(encoding.upper(), FORMAT_ULAW)
    fmt = struct.pack("<HHIIHHH", tag, 1, 8000, 8000, 1, 8, 0)
    fact = struct.pack("<I", len(samples))
    body = b"WAVE" + _chunk(b"fmt ", fmt) + _chunk(b"fact", fact) + _chunk(b"data", samples)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _chunk(name: bytes, body: bytes) -> bytes:
    return name + struct.pack("<I", len(body)) + body + (b"\0" if len(body) & 1 else b"")
