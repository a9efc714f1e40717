"""Prometheus metrics of the media service (served on the ops port's /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

RPC_SECONDS = Histogram(
    "parley_media_rpc_seconds",
    "Time to answer a media request",
    ["operation"],
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)
SESSIONS = Gauge("parley_media_sessions", "Relay sessions held by this node")
PORTS_IN_USE = Gauge("parley_media_port_pairs_in_use", "RTP/RTCP port pairs allocated")
PORTS_CAPACITY = Gauge("parley_media_port_pairs_capacity", "RTP/RTCP port pairs in the configured range")
REAPED = Counter("parley_media_sessions_reaped_total", "Sessions removed by the node itself", ["reason"])
