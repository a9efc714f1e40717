"""The address rules of docs/media.md: where to send before latching, and which IP may latch."""

from __future__ import annotations

from libs.contracts import media as contract
from services.media._sessions import endpoint_target
from services.media.protocol.sdp import parse


def first_media(address: str, port: int = 4000, extra: str = ""):
    text = f"v=0\r\no=- 1 1 IN IP4 {address}\r\ns=-\r\nc=IN IP4 {address}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0\r\n"
    return parse(text + extra).media[0]


def test_public_sdp_address_is_used_and_required_for_latching() -> None:
    target = endpoint_target(first_media("198.51.100.7"), received_from="192.0.2.1", flags=[])
    assert (target.host, target.port, target.latch_ip, target.symmetric) == ("198.51.100.7", 4000, "198.51.100.7", True)
    assert (target.rtcp_host, target.rtcp_port) == ("198.51.100.7", 4001)


def test_private_sdp_address_is_replaced_by_the_signalling_source() -> None:
    target = endpoint_target(first_media("192.168.1.50"), received_from="8.8.4.4", flags=[])
    assert (target.host, target.latch_ip, target.rtcp_host) == ("8.8.4.4", "8.8.4.4", "8.8.4.4")


def test_trust_address_keeps_the_sdp_and_unknown_nat_latches_from_anywhere() -> None:
    trusted = endpoint_target(first_media("10.0.0.9"), received_from="8.8.4.4", flags=[contract.FLAG_TRUST_ADDRESS])
    assert (trusted.host, trusted.latch_ip) == ("10.0.0.9", "")
    unknown = endpoint_target(first_media("10.0.0.9"), received_from="", flags=[])
    assert (unknown.host, unknown.latch_ip) == ("10.0.0.9", "")


def test_hold_address_sends_nothing_and_asymmetric_turns_latching_off() -> None:
    hold = endpoint_target(first_media("0.0.0.0"), received_from="", flags=[])
    assert (hold.host, hold.port) == ("", 0)
    fixed = endpoint_target(first_media("8.8.8.8"), received_from="", flags=[contract.FLAG_ASYMMETRIC])
    assert not fixed.symmetric


def test_explicit_rtcp_address_is_kept_when_public() -> None:
    media = first_media("192.168.1.50", extra="a=rtcp:5000 IN IP4 8.8.8.8\r\n")
    target = endpoint_target(media, received_from="1.1.1.1", flags=[])
    assert (target.host, target.rtcp_host, target.rtcp_port) == ("1.1.1.1", "8.8.8.8", 5000)
