"""SDP as a media relay needs it: where each stream's endpoint is, and the same SDP pointed at us.

`parse()` reads an offer or answer (RFC 4566) into the few facts a relay acts on: the
connection address of each media description (its own `c=` or the session's), its port, an
explicit RTCP port (`a=rtcp`, RFC 3605), its direction (RFC 3264 section 5.1) and the clock
rate of its first payload format. `rewrite()` returns the text with only what must change for
the relay changed (`c=` addresses, `m=` ports, `a=rtcp`) and every other byte (origin,
attributes it does not know, line endings) kept as it was, so codecs, ICE-less extensions and
vendor attributes pass through untouched.

Anything that is not SDP raises `SdpError`, which the service answers as `bad_request`.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

MAX_SDP_BYTES = 65536
MAX_MEDIA = 16

# RFC 4566 section 5: "<type>=<value>", type one lower-case letter.
_LINE = re.compile(r"[a-z]=.*")
# RFC 4566 section 5.14: m=<media> <port>[/<number of ports>] <proto> <fmt> ...
_MEDIA = re.compile(r"m=(\S+) (\d{1,5})(?:/(\d{1,3}))? (\S+)((?: \S+)*)")
# RFC 4566 section 5.7: c=<nettype> <addrtype> <connection-address>[/ttl][/n]
_CONNECTION = re.compile(r"c=IN (IP4|IP6) ([^\s/]+)((?:/\d+){0,2})")
# RFC 3605: a=rtcp:<port> [<nettype> <addrtype> <connection-address>]
_RTCP = re.compile(r"a=rtcp:(\d{1,5})(?: IN (IP4|IP6) (\S+))?")
_RTPMAP = re.compile(r"a=rtpmap:(\d{1,3}) ([^/\s]+)/(\d+)")
DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
# RFC 3551 table 4: clock rates of the static payload types that a prompt or statistics use.
_STATIC_CLOCK = {0: 8000, 3: 8000, 4: 8000, 8: 8000, 9: 8000, 18: 8000}
_STATIC_NAMES = {0: "PCMU", 8: "PCMA", 9: "G722", 18: "G729", 3: "GSM", 4: "G723"}


class SdpError(ValueError):
    """The text is not a session description we can relay."""


@dataclass(frozen=True)
class MediaDescription:
    index: int
    media: str  # audio, video, ...
    port: int  # 0: the stream is rejected or disabled (RFC 3264 section 6)
    proto: str
    formats: tuple[str, ...]
    address: str  # the connection address that applies to this stream
    rtcp_port: int  # explicit a=rtcp port, else port + 1 (RFC 3550 section 11)
    rtcp_address: str
    direction: str
    clock_rate: int
    encoding: str  # of the first format: PCMU, PCMA, opus, ...

    @property
    def payload_type(self) -> int:
        first = self.formats[0] if self.formats else ""
        return int(first) if first.isdigit() else -1

    @property
    def is_rtp(self) -> bool:
        return "RTP" in self.proto.upper()


@dataclass(frozen=True)
class SessionDescription:
    lines: tuple[str, ...]
    newline: str
    media: tuple[MediaDescription, ...]


def parse(text: str) -> SessionDescription:
    if len(text.encode("utf-8", "surrogatepass")) > MAX_SDP_BYTES:
        raise SdpError("SDP too large")
    newline = "\r\n" if "\r\n" in text else "\n"
    lines = tuple(line.rstrip("\r") for line in text.split("\n"))
    if lines and lines[-1] == "":
        lines = lines[:-1]
    _check_lines(lines)
    session_address, sections = _split_sections(lines)
    media = tuple(_describe(i, section, session_address) for i, section in enumerate(sections))
    if len(media) > MAX_MEDIA:
        raise SdpError(f"more than {MAX_MEDIA} media descriptions")
    return SessionDescription(lines=lines, newline=newline, media=media)


def _check_lines(lines: tuple[str, ...]) -> None:
    if not lines or lines[0] != "v=0":
        raise SdpError("SDP must start with v=0 (RFC 4566 section 5.1)")
    for number, line in enumerate(lines, 1):
        if not _LINE.fullmatch(line):
            raise SdpError(f"line {number} is not <type>=<value>")
    types = [line[0] for line in lines]
    if "o" not in types or "s" not in types:
        raise SdpError("SDP without o= or s= (RFC 4566 section 5)")


def _split_sections(lines: tuple[str, ...]) -> tuple[str, list[list[str]]]:
    session_address = ""
    sections: list[list[str]] = []
    for line in lines:
        if line.startswith("m="):
            sections.append([line])
        elif sections:
            sections[-1].append(line)
        elif line.startswith("c="):
            session_address = _connection_address(line)
    return session_address, sections


def _connection_address(line: str) -> str:
    match = _CONNECTION.fullmatch(line)
    if not match:
        raise SdpError(f"bad connection line: {line[:80]!r}")
    family, address = match.group(1), match.group(2)
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        raise SdpError(f"connection address is not a numeric IP: {address[:64]!r}") from None
    if (family == "IP4") != (parsed.version == 4):
        raise SdpError(f"address {address} does not match {family}")
    return str(parsed)


def _describe(index: int, section: list[str], session_address: str) -> MediaDescription:
    match = _MEDIA.fullmatch(section[0])
    if not match:
        raise SdpError(f"bad media line: {section[0][:80]!r}")
    port = int(match.group(2))
    if port > 65535:
        raise SdpError(f"port {port} out of range")
    address = session_address
    rtcp_port, rtcp_address, direction = port + 1 if port else 0, "", "sendrecv"
    rtpmap: dict[int, tuple[str, int]] = {}
    for line in section[1:]:
        if line.startswith("c="):
            address = _connection_address(line)
        elif line.startswith("a=rtcp:"):
            rtcp = _RTCP.fullmatch(line)
            if not rtcp or not 0 < int(rtcp.group(1)) <= 65535:
                raise SdpError(f"bad rtcp attribute: {line[:80]!r}")
            rtcp_port, rtcp_address = int(rtcp.group(1)), rtcp.group(3) or ""
        elif line[2:] in DIRECTIONS:
            direction = line[2:]
        elif rtp := _RTPMAP.match(line):
            rtpmap[int(rtp.group(1))] = (rtp.group(2), int(rtp.group(3)))
    if port and not address:
        raise SdpError(f"media {index} has no connection address (RFC 4566 section 5.7)")
    formats = tuple(match.group(5).split())
    if not formats:
        raise SdpError(f"media {index} lists no formats")
    first = int(formats[0]) if formats[0].isdigit() else -1
    encoding, clock = rtpmap.get(first, (_STATIC_NAMES.get(first, ""), _STATIC_CLOCK.get(first, 8000)))
    # RFC 3551 section 4.5.2: G.722's RTP clock is 8000 although it samples at 16000.
    if encoding.upper() == "G722":
        clock = 8000
    return MediaDescription(
        index=index,
        media=match.group(1),
        port=port,
        proto=match.group(4),
        formats=formats,
        address=address,
        rtcp_port=rtcp_port,
        rtcp_address=rtcp_address or address,
        direction=direction,
        clock_rate=clock or 8000,
        encoding=encoding,
    )


def rewrite(description: SessionDescription, *, address: str, ports: dict[int, int]) -> str:
    """The SDP with every connection address set to `address` and media `i`'s port to `ports[i]`.

    Streams not in `ports` (rejected ones, port 0) keep their port. An `a=rtcp` line is pointed
    at the port above the new RTP port, where the relay listens for RTCP.
    """
    family = "IP6" if ":" in address else "IP4"
    out: list[str] = []
    index = -1
    for line in description.lines:
        if line.startswith("m="):
            index += 1
            line = _rewrite_media_port(line, ports.get(index))
        elif line.startswith("c="):
            ttl = _CONNECTION.fullmatch(line)
            line = f"c=IN {family} {address}{ttl.group(3) if ttl else ''}"
        elif line.startswith("a=rtcp:") and index >= 0 and index in ports:
            rtcp = _RTCP.fullmatch(line)
            suffix = f" IN {family} {address}" if rtcp and rtcp.group(2) else ""
            line = f"a=rtcp:{ports[index] + 1}{suffix}"
        out.append(line)
    return description.newline.join(out) + description.newline


def _rewrite_media_port(line: str, port: int | None) -> str:
    if port is None:
        return line
    match = _MEDIA.fullmatch(line)
    assert match is not None  # parse() accepted it
    start, end = match.span(2)
    return line[:start] + str(port) + line[end:]


_NAT_PRIVATE = tuple(
    ipaddress.ip_network(net)
    for net in (
        "10.0.0.0/8",  # RFC 1918
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",  # RFC 6598 shared address space (carrier-grade NAT)
        "169.254.0.0/16",  # RFC 3927 link-local
        "fc00::/7",  # RFC 4193 unique local
        "fe80::/10",  # link-local
    )
)


def is_nat_private(address: str) -> bool:
    """An address that says nothing about where an endpoint really is: behind a NAT, link-local,
    or unspecified. Loopback and public addresses are real places."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return True
    if parsed.is_unspecified:
        return True
    return any(parsed.version == net.version and parsed in net for net in _NAT_PRIVATE)
