"""RQ entry points for feedback (no payload but ids): drain the stored reports, a claimed batch at a time.

Jobs name them by this dotted path (mailer.feedback.jobs), also jobs enqueued before an upgrade, so they stay
here rather than in mailer.worker.jobs: an alias there would make feedback and worker import each other.
"""

from __future__ import annotations

import time
import uuid

from flask import current_app

from mailer.feedback.inbox import DRAIN_SECONDS, drain_started, enqueue_drain
from mailer.feedback.processing import drain_reports, process_report
from mailer.queues.job_scope import job_scope, stop_requested


def drain_inbound_reports() -> int:
    """Process pending reports in batches until none is claimable (or for DRAIN_SECONDS, then hand over to a
    new job); how many were processed. Reports that arrive meanwhile may start a second job (another worker)."""
    with job_scope():
        drain_started()
        deadline = time.monotonic() + DRAIN_SECONDS
        done = drain_reports(current_app.config["MAILER"].DELIVERY_LEASE_SECONDS,
                             lambda: not stop_requested() and time.monotonic() < deadline)
        if time.monotonic() >= deadline:
            enqueue_drain(force=True)
        return done


def process_inbound_report(report_id: str) -> str | None:
    """One report (jobs enqueued before reports were drained in batches); returns its final status."""
    with job_scope():
        status = process_report(uuid.UUID(report_id), current_app.config["MAILER"].DELIVERY_LEASE_SECONDS)
        return status.value if status else None  # a plain string: RQ pickles the result
