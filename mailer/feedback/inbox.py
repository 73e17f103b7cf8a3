"""Storing what the receiver accepted, and having workers drain it (no payload but ids).

The receiver commits the raw mail first, then makes sure a drain job waits for it: one job claims the
pending reports in batches (claims.py), so a storm costs a few jobs, not one per report. A Redis key
says a drain job is waiting; reports committed meanwhile need no job of their own, and a job deletes
the key as it starts, so what arrives after that starts another (a second worker joins in). With Redis
down the rows stay ``pending``; every sweep enqueues a drain when a report has waited past the grace
period or a killed job's lease ran out.

Processing goes on ``bulk``, the lowest of the three queues the bare worker serves (API.md §4): reports
anyone holding a token can send must never wait in front of, or share, the mail queue (``default``).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from redis.exceptions import RedisError
from sqlalchemy import or_, select

from mailer.extensions import atomic, db
from mailer.feedback.claims import claimable
from mailer.mail.recipient_tokens import TokenAddress
from mailer.models import InboundReport
from mailer.queues import get_queue

log = logging.getLogger(__name__)

DRAIN_JOB = "mailer.feedback.jobs.drain_inbound_reports"
QUEUE = "bulk"
# A drain job hands over to a new one after this long, so a long storm never meets the RQ job timeout.
DRAIN_SECONDS = 60
# A report younger than this may still have its first job waiting: the sweep leaves it alone.
SWEEP_GRACE = timedelta(minutes=2)
_WAITING_KEY = "mailer:feedback:drain-waiting"
_WAITING_TTL = 120  # a lost job (Redis flushed) keeps new ones from being enqueued at most this long


def store_reports(targets: Sequence[TokenAddress], raws: Sequence[bytes]) -> list[uuid.UUID]:
    """Commit one report row per accepted token address (``raws[i]`` is what came for ``targets[i]``); their ids."""
    reports = [InboundReport(id=uuid.uuid4(), token_kind=t.kind, recipient_id=t.recipient_id, raw=raw)
               for t, raw in zip(targets, raws, strict=True)]
    with atomic():
        db.session.add_all(reports)
    return [r.id for r in reports]


def enqueue_processing(report_ids: Sequence[uuid.UUID]) -> bool:
    """Make sure a drain job will take these committed reports; False (logged) when Redis refuses: the sweep will."""
    return enqueue_drain() if report_ids else True


def enqueue_drain(*, force: bool = False) -> bool:
    """Enqueue a drain job unless one is waiting already (``force``: in any case)."""
    try:
        queue = get_queue(QUEUE)
        if force or queue.connection.set(_WAITING_KEY, 1, nx=True, ex=_WAITING_TTL):
            queue.enqueue(DRAIN_JOB, result_ttl=600, failure_ttl=7 * 86400, job_timeout=DRAIN_SECONDS + 120)
    except RedisError:
        log.warning("feedback drain not enqueued; the sweeper will")
        return False
    return True


def drain_started() -> None:
    """A drain job is running: reports committed from now on need a job of their own."""
    try:
        get_queue(QUEUE).connection.delete(_WAITING_KEY)
    except RedisError:
        log.warning("could not clear the waiting feedback drain's key; it expires by itself")


def enqueue_pending_reports() -> None:
    """Sweep hook: a drain job when a pending report waited past the grace period or a dead job's lease ran out."""
    now = datetime.now(UTC)
    waiting = db.session.scalar(select(InboundReport.id).where(
        claimable(now), or_(InboundReport.lease_until.is_not(None), InboundReport.received_at < now - SWEEP_GRACE)
    ).limit(1))
    if waiting is not None:
        enqueue_drain(force=True)
