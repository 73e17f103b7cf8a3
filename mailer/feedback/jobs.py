"""RQ entry point for feedback (ids only): process one stored inbound report.

Jobs name it by this dotted path (mailer.feedback.inbox), also jobs enqueued before an upgrade, so it stays
here rather than in mailer.worker.jobs: an alias there would make feedback and worker import each other.
"""

from __future__ import annotations

import uuid

from mailer.feedback.processing import process_report
from mailer.queues.job_scope import job_scope


def process_inbound_report(report_id: str) -> str | None:
    """Parse, match and apply one report; returns its final status."""
    with job_scope():
        status = process_report(uuid.UUID(report_id))
        return status.value if status else None
