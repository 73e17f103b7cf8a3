"""Feedback counters in the Redis hashes of .metrics, and their export (written by mailer.feedback.processing).

``mailer:metrics:feedback`` fields: ``report|<status>`` (processed, unmatched, failed) and
``outcome|<outcome>`` (bounced, delayed, complained, unsubscribed) for each new finding applied.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any

from prometheus_client.core import CounterMetricFamily
from redis import Redis
from redis.exceptions import RedisError

from mailer.observability.metrics import PREFIX, write_counters

FEEDBACK = PREFIX + "feedback"
log = logging.getLogger(__name__)


def observe_report(status: str, outcomes: Sequence[str] = ()) -> None:
    """Count one processed report by its final status, and the new findings it applied by outcome."""
    observe_reports([(status, outcomes)])


def observe_reports(reports: Sequence[tuple[str, Sequence[str]]]) -> None:
    """``observe_report`` for each (status, outcomes), in one round trip."""

    def write(pipe: Any) -> None:
        for status, outcomes in reports:
            pipe.hincrby(FEEDBACK, f"report|{status}", 1)
            for outcome in outcomes:
                pipe.hincrby(FEEDBACK, f"outcome|{outcome}", 1)

    write_counters(write)


def feedback_metrics(redis: Redis) -> Iterator[Any]:
    """``mailer_feedback_reports{status}`` and ``mailer_feedback_outcomes{outcome}`` for /metrics."""
    try:
        fields = {k.decode(): int(v) for k, v in redis.hgetall(FEEDBACK).items()}
    except RedisError:
        log.warning("metrics: Redis unavailable")
        return
    reports = CounterMetricFamily("mailer_feedback_reports", "Inbound reports processed, by final status.",
                                  labels=["status"])
    outcomes = CounterMetricFamily("mailer_feedback_outcomes", "Findings applied to recipients, by outcome.",
                                   labels=["outcome"])
    for field, value in sorted(fields.items()):
        kind, _, label = field.partition("|")
        (reports if kind == "report" else outcomes).add_metric([label], float(value))
    yield reports
    yield outcomes
