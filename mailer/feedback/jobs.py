"""RQ entry point for feedback (ids only): process one stored inbound report."""

from __future__ import annotations

import uuid

from mailer.feedback.processing import process_report
from mailer.jobs import app_context


def process_inbound_report(report_id: str) -> str | None:
    """Parse, match and apply one report; returns its final status."""
    with app_context():
        status = process_report(uuid.UUID(report_id))
        return status.value if status else None
