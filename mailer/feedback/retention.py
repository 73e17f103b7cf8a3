"""Retention of stored inbound reports (API.md §8): they go with their message, or after
MESSAGE_RETENTION_DAYS whatever became of them.

A purge companion (retention.run): after the daily purge has deleted finished messages and their
recipients, reports whose recipient row is gone (purged, or never there: a token outlives its row)
and reports older than MESSAGE_RETENTION_DAYS are deleted, in short transactions.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, exists, or_, select

from mailer.config import Config
from mailer.extensions import db
from mailer.models import InboundReport, Recipient, ReportStatus

BATCH = 1000
# A report younger than this may still be waiting for its job: an orphan only once that had its chance.
SETTLE = timedelta(hours=1)


def purge_inbound_reports(config: Config, now: datetime | None = None) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    expired = now - timedelta(days=config.MESSAGE_RETENTION_DAYS)
    has_recipient = exists().where(Recipient.id == InboundReport.recipient_id)
    orphan = (~has_recipient) & or_(InboundReport.status != ReportStatus.PENDING,
                                    InboundReport.received_at < now - SETTLE)
    purged = 0
    while ids := list(db.session.scalars(
        select(InboundReport.id).where(or_(InboundReport.received_at < expired, orphan)).limit(BATCH)
    )):
        db.session.execute(delete(InboundReport).where(InboundReport.id.in_(ids)))
        db.session.commit()
        purged += len(ids)
    return {"inbound_reports": purged}
