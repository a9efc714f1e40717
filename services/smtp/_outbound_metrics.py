"""Prometheus metrics of the outbound queue and its delivery workers (the ops port's /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

# result: queued (accepted into MAIL_OUTBOUND), delivered, deferred, bounced (5xx or given up)
RECIPIENTS = Counter("parley_smtp_outbound_recipients_total", "Remote recipients by queue outcome", ["result"])
ATTEMPTS = Counter("parley_smtp_outbound_attempts_total", "Delivery attempts to remote servers by reply class",
                   ["result"])  # fmt: skip
DSNS = Counter("parley_smtp_outbound_dsn_total", "Delivery status notifications sent, by action", ["action"])
SENT_COPIES = Counter("parley_smtp_sent_copies_total", "Copies of submitted messages saved to Sent", ["result"])
IN_FLIGHT = Gauge("parley_smtp_outbound_in_flight", "Queued messages this process is delivering now")
