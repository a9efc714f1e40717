"""SDP parsing and rewriting (RFC 4566, RFC 3264, RFC 3605): what changes, and that nothing else does."""

from __future__ import annotations

import pytest

from services.media.protocol.sdp import SdpError, is_nat_private, parse, rewrite

OFFER = (
    "v=0\r\n"
    "o=alice 2890844526 2890844526 IN IP4 192.168.1.50\r\n"
    "s=-\r\n"
    "c=IN IP4 192.168.1.50\r\n"
    "t=0 0\r\n"
    "m=audio 49170 RTP/AVP 0 8 101\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
    "a=fmtp:101 0-15\r\n"
    "a=x-vendor:keep me exactly\r\n"
    "a=sendrecv\r\n"
    "m=video 51372 RTP/AVP 96\r\n"
    "c=IN IP4 10.0.0.7\r\n"
    "a=rtpmap:96 H264/90000\r\n"
    "a=rtcp:53020 IN IP4 10.0.0.7\r\n"
    "a=recvonly\r\n"
)


def test_parse_finds_each_streams_endpoint() -> None:
    sdp = parse(OFFER)
    audio, video = sdp.media
    assert (audio.media, audio.port, audio.address, audio.rtcp_port) == ("audio", 49170, "192.168.1.50", 49171)
    assert (audio.encoding, audio.clock_rate, audio.payload_type, audio.direction) == ("PCMU", 8000, 0, "sendrecv")
    assert (video.address, video.rtcp_port, video.rtcp_address) == ("10.0.0.7", 53020, "10.0.0.7")
    assert (video.clock_rate, video.direction) == (90000, "recvonly")


def test_rewrite_changes_addresses_and_ports_only() -> None:
    sdp = parse(OFFER)
    out = rewrite(sdp, address="203.0.113.9", ports={0: 20000, 1: 20002})
    expected = (
        OFFER.replace("c=IN IP4 192.168.1.50", "c=IN IP4 203.0.113.9")
        .replace("c=IN IP4 10.0.0.7", "c=IN IP4 203.0.113.9")
        .replace("m=audio 49170", "m=audio 20000")
        .replace("m=video 51372", "m=video 20002")
        .replace("a=rtcp:53020 IN IP4 10.0.0.7", "a=rtcp:20003 IN IP4 203.0.113.9")
    )
    assert out == expected
    assert "o=alice 2890844526 2890844526 IN IP4 192.168.1.50\r\n" in out  # origin untouched


def test_rewrite_keeps_bare_newlines_and_rejected_streams() -> None:
    text = (
        "v=0\no=- 1 1 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio 0 RTP/AVP 0\nm=audio 4000 RTP/AVP 8\n"
    )
    sdp = parse(text)
    assert [m.port for m in sdp.media] == [0, 4000]
    assert sdp.media[1].encoding == "PCMA"
    out = rewrite(sdp, address="::1", ports={1: 20010})
    assert out == text.replace("c=IN IP4 127.0.0.1", "c=IN IP6 ::1").replace("m=audio 4000", "m=audio 20010")


def test_media_level_connection_overrides_session_level() -> None:
    text = "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\nc=IN IP6 2001:db8::1\r\n"
    assert parse(text).media[0].address == "2001:db8::1"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "hello world",
        "v=1\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\n",
        "v=0\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nm=audio 4000 RTP/AVP 0\r\n",  # no o=
        "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nm=audio 4000 RTP/AVP 0\r\n",  # no c= anywhere
        "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 example.com\r\nm=audio 4000 RTP/AVP 0\r\n",
        "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 ::1\r\nm=audio 4000 RTP/AVP 0\r\n",
        "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nm=audio 99999 RTP/AVP 0\r\n",
        "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nm=audio 4000 RTP/AVP\r\n",
        "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nm=audio 4000 RTP/AVP 0\r\na=rtcp:x\r\n",
        "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nnot a line\r\n",
        "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\n" + "x=" + "a" * 70000 + "\r\n",
    ],
)
def test_garbage_is_refused(text: str) -> None:
    with pytest.raises(SdpError):
        parse(text)


def test_nat_private_addresses() -> None:
    assert is_nat_private("192.168.1.50")
    assert is_nat_private("10.1.2.3")
    assert is_nat_private("100.64.0.1")
    assert is_nat_private("fd00::1")
    assert is_nat_private("0.0.0.0")
    assert is_nat_private("169.254.1.1")
    assert not is_nat_private("198.51.100.7")
    assert not is_nat_private("127.0.0.1")
    assert not is_nat_private("8.8.8.8")
