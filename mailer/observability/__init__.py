"""Observability: request log lines (through mailer.logs), metrics in Redis, the /metrics exporter, the health probes.

`attempts.note_attempts` is what delivery reports per SMTP attempt; `metrics` writes the counters,
`exporter` serves them at scrape time, `health` answers /healthz and /readyz.
"""

from __future__ import annotations

from flask import Flask

from mailer import logs
from mailer.config import Config


def init_observability(app: Flask, config: Config) -> None:
    """Logging (JSON or text, scrubbed), one log line per request, and the metrics registry."""
    # The exporter (a blueprint, Prometheus) is web-only: importing this package from a job's path
    # (.attempts, .metrics) must not pull it in.
    from mailer.observability.exporter import init_metrics  # noqa: PLC0415 - see above

    logs.configure(config)
    logs.init_request_log(app)
    init_metrics(app)
