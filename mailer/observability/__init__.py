"""Observability: structured logs, metrics in Redis, the /metrics exporter, the health probes.

`attempts.note_attempts` is what delivery reports per SMTP attempt; `metrics` writes the counters,
`exporter` serves them at scrape time, `health` answers /healthz and /readyz.
"""

from __future__ import annotations

from flask import Flask

from mailer.config import Config
from mailer.observability import logs
from mailer.observability.exporter import init_metrics


def init_observability(app: Flask, config: Config) -> None:
    """Logging (JSON or text, scrubbed), one log line per request, and the metrics registry."""
    logs.configure(config)
    logs.init_request_log(app)
    init_metrics(app)
