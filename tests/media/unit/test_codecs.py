"""G.711 in C (ITU-T G.711) and the WAV files of prompts and recordings."""

from __future__ import annotations

import struct

import pytest

from libs.contracts.errors import BadRequest
from services.media import _wav
from services.media._relay import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode


def pcm(*samples: int) -> bytes:
    return struct.pack(f"<{len(samples)}h", *samples)


def test_g711_reference_values() -> None:
    # Silence and full scale as the G.711 tables give them.
    assert ulaw_encode(pcm(0, 32767, -32768)) == bytes([0xFF, 0x80, 0x00])
    assert alaw_encode(pcm(0, 32767, -32768)) == bytes([0xD5, 0xAA, 0x2A])
    assert ulaw_decode(bytes([0xFF, 0x7F])) == pcm(0, 0)
    assert alaw_decode(bytes([0xD5])) == pcm(8)


def test_every_code_survives_decode_then_encode() -> None:
    codes = bytes(range(256))
    assert alaw_encode(alaw_decode(codes)) == codes
    # µ-law has two zeros (0x7F and 0xFF); both decode to 0, which encodes as 0xFF.
    assert ulaw_encode(ulaw_decode(codes)) == codes.replace(b"\x7f", b"\xff")


@pytest.mark.parametrize("encode,decode", [(ulaw_encode, ulaw_decode), (alaw_encode, alaw_decode)])
def test_quantisation_error_stays_within_a_segment_step(encode, decode) -> None:
    samples = list(range(-32768, 32768, 97))
    decoded = struct.unpack(f"<{len(samples)}h", decode(encode(pcm(*samples))))
    for original, back in zip(samples, decoded, strict=True):
        assert abs(original - back) <= max(16, abs(original) // 16), (original, back)


def test_odd_length_pcm_ignores_the_dangling_byte() -> None:
    assert ulaw_encode(b"\x00\x00\x01") == b"\xff"


def test_wav_round_trip_and_conversion() -> None:
    data = bytes(range(256)) * 4
    fmt, samples = _wav.read_wav(_wav.write_wav(data, "PCMA"))
    assert (fmt, samples) == (_wav.FORMAT_ALAW, data)
    assert _wav.to_g711(_wav.FORMAT_ALAW, data, "PCMA") == data
    assert _wav.to_g711(_wav.FORMAT_ALAW, data, "PCMU") == ulaw_encode(alaw_decode(data))
    assert _wav.to_g711(_wav.FORMAT_PCM, pcm(0, 1000), "pcmu") == ulaw_encode(pcm(0, 1000))


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"RIFF\x00\x00\x00\x00WAVE",  # no chunks
        b"RIFF\x00\x00\x00\x00AVI ",
        b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00" + struct.pack("<HHIIHH", 1, 2, 8000, 32000, 4, 16),
        b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00" + struct.pack("<HHIIHH", 1, 1, 44100, 88200, 2, 16),
        b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00" + struct.pack("<HHIIHH", 3, 1, 8000, 32000, 4, 32),
        b"RIFF\x10\x00\x00\x00WAVEdata\x04\x00\x00\x00abcd",  # data before fmt
    ],
)
def test_unusable_prompts_are_bad_requests(data: bytes) -> None:
    with pytest.raises(BadRequest):
        fmt, samples = _wav.read_wav(data + b"data\x00\x00\x00\x00")
        _wav.to_g711(fmt, samples, "PCMU")


def test_prompts_need_a_g711_call() -> None:
    with pytest.raises(BadRequest):
        _wav.to_g711(_wav.FORMAT_ULAW, b"\xff", "opus")
