"""Feedback counters, in the same Redis hashes as the other metrics (see mailer.metrics)."""

from __future__ import annotations

from mailer.metrics import PREFIX, _pipeline

REPORTS = PREFIX + "feedback_reports"  # field: the report's outcome ("processed", "unmatched", ...)
RECEIVED = PREFIX + "feedback_received"  # field: the token kind ("b", "u") or "refused"


def observe_unmatched() -> None:
    _pipeline(lambda pipe: pipe.hincrby(REPORTS, "unmatched", 1))


def observe_report(status: str) -> None:
    _pipeline(lambda pipe: pipe.hincrby(REPORTS, status, 1))
