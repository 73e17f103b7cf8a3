"""Claiming stored reports for one job: a conditional UPDATE that leases a batch of pending reports.

On PostgreSQL the candidates are first locked with ``FOR UPDATE SKIP LOCKED``, so two jobs draining at
once take disjoint batches without waiting on each other; on SQLite the UPDATE re-checks the lease, so
a report another job took in between is skipped. A job killed mid-batch commits nothing of it: its
reports stay pending and are claimable again when the lease runs out. The attempt is counted at the
claim, so a report that kills its job every time ends ``failed`` (processing.MAX_ATTEMPTS).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, and_, or_, select, update

from mailer.extensions import atomic, db
from mailer.models import InboundReport, ReportStatus


def claimable(now: datetime) -> ColumnElement[bool]:
    """Pending and held by no live job."""
    return and_(InboundReport.status == ReportStatus.PENDING,
                or_(InboundReport.lease_until.is_(None), InboundReport.lease_until < now))


def claim_reports(limit: int, lease_seconds: int, only: Sequence[uuid.UUID] | None = None) -> list[uuid.UUID]:
    """Lease up to ``limit`` claimable reports (of ``only``, if given), oldest first; commits. Their ids."""
    now = datetime.now(UTC)
    candidates = select(InboundReport.id).where(claimable(now))
    if only is not None:
        candidates = candidates.where(InboundReport.id.in_(list(only)))
    with atomic():
        ids = db.session.scalars(
            candidates.order_by(InboundReport.received_at).limit(limit).with_for_update(skip_locked=True)
        ).all()
        if not ids:
            return []
        claimed = db.session.scalars(
            update(InboundReport)
            .where(InboundReport.id.in_(ids), claimable(now))
            .values(attempts=InboundReport.attempts + 1, lease_until=now + timedelta(seconds=lease_seconds))
            .returning(InboundReport.id)
            .execution_options(synchronize_session=False)
        ).all()
    return list(claimed)
