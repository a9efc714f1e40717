"""Prometheus metrics of the POP3 service (served on the ops port's /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

SESSIONS = Counter("parley_pop3_sessions_total", "POP3 sessions accepted", ["listener"])
OPEN_SESSIONS = Gauge("parley_pop3_sessions_open", "POP3 sessions open now", ["listener"])
REFUSED_CONNECTIONS = Counter(
    "parley_pop3_connections_refused_total", "Connections refused for too many from one address", ["listener"]
)
LOGINS = Counter(
    "parley_pop3_logins_total", "Login attempts by result (ok, invalid, throttled, in_use, unavailable)", ["result"]
)
MESSAGES_SENT = Counter("parley_pop3_messages_sent_total", "Messages sent, by command (retr, top)", ["command"])
BYTES_SENT = Counter("parley_pop3_message_bytes_sent_total", "Octets of message content sent (RETR and TOP)")
MESSAGES_DELETED = Counter("parley_pop3_messages_deleted_total", "Messages removed in the UPDATE state")
UPDATES_FAILED = Counter("parley_pop3_updates_failed_total", "QUITs whose deletions could not be applied")
LOCKS_LOST = Counter("parley_pop3_locks_lost_total", "Maildrop locks that could not be refreshed")
