"""The media service's sans-I/O core: SDP parsing and rewriting (RFC 4566, RFC 3264)."""

from services.media.protocol.sdp import MediaDescription, SdpError, SessionDescription, parse, rewrite

__all__ = ["MediaDescription", "SdpError", "SessionDescription", "parse", "rewrite"]
