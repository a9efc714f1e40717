"""The media service: a native RTP/RTCP relay anchored by SIP over the bus (media.rpc.*)."""
