"""Storing what the receiver accepted, and handing it to a worker (ids only).

The receiver commits the raw mail first, then enqueues its processing; with Redis down the row
stays ``pending`` and every sweep re-enqueues pending reports (the job is idempotent, and its
deterministic job id keeps one job per report in Redis).

Processing goes on ``bulk``, the lowest of the three queues the bare worker serves (API.md §4): reports
anyone holding a token can send must never wait in front of, or share, the mail queue (``default``).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from redis.exceptions import RedisError
from sqlalchemy import select

from mailer.extensions import db
from mailer.mail.recipient_tokens import TokenAddress
from mailer.models import InboundReport, ReportStatus
from mailer.queues import get_queue

log = logging.getLogger(__name__)

PROCESS_JOB = "mailer.feedback.jobs.process_inbound_report"
QUEUE = "bulk"
# A report younger than this may still have its first job waiting: the sweep leaves it alone.
SWEEP_GRACE = timedelta(minutes=2)


def store_reports(targets: Sequence[TokenAddress], raws: Sequence[bytes]) -> list[uuid.UUID]:
    """Commit one report row per accepted token address (``raws[i]`` is what came for ``targets[i]``); their ids."""
    reports = [InboundReport(id=uuid.uuid4(), token_kind=t.kind.value, recipient_id=t.recipient_id, raw=raw)
               for t, raw in zip(targets, raws, strict=True)]
    db.session.add_all(reports)
    db.session.commit()
    return [r.id for r in reports]


def enqueue_processing(report_ids: Sequence[uuid.UUID]) -> bool:
    """Enqueue a processing job per report, in one round trip; False (logged) when Redis refuses: the sweep retries."""
    if not report_ids:
        return True
    try:
        queue = get_queue(QUEUE)
        queue.enqueue_many([
            queue.prepare_data(PROCESS_JOB, [str(report_id)], job_id=f"feedback-{report_id.hex}", result_ttl=600,
                               failure_ttl=7 * 86400)
            for report_id in report_ids
        ])
    except RedisError:
        log.warning("feedback report not enqueued; the sweeper will", extra={"reports": len(report_ids)})
        return False
    return True


def enqueue_pending_reports() -> None:
    """Sweep hook: re-enqueue reports still pending after the grace period."""
    cutoff = datetime.now(UTC) - SWEEP_GRACE
    ids = db.session.scalars(
        select(InboundReport.id).where(InboundReport.status == ReportStatus.PENDING.value,
                                       InboundReport.received_at < cutoff)
        .order_by(InboundReport.received_at).limit(5000)
    ).all()
    if ids:
        enqueue_processing(list(ids))
