"""The console's overview figures for a tenant (API.md §12): GET /v1/stats's counts, plus what the
overview adds — suppressed and complained in each window, a count per day, what is waiting now and the
latest failures. Tenant-wide, as the stats are for an admin.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from mailer.extensions import db
from mailer.models import DeliveryStat, FeedbackRecord, Recipient, StatScope
from mailer.notifications.stats import WINDOWS, tenant_stats
from mailer.security.types import Principal

CHART_DAYS = 30
LATEST_FAILURES = 10
WAITING = ("queued", "deferred", "sending")


def _suppressed_and_complained(tenant_id: Any, since: datetime) -> tuple[int, int]:
    suppressed = db.session.scalar(
        select(func.count()).select_from(Recipient).where(
            Recipient.tenant_id == tenant_id, Recipient.created_at >= since, Recipient.status == "failed",
            Recipient.error_code == "suppressed")
    ) or 0
    complained = db.session.scalar(
        select(func.count()).select_from(FeedbackRecord).where(
            FeedbackRecord.tenant_id == tenant_id, FeedbackRecord.created_at >= since,
            FeedbackRecord.kind == "complained")
    ) or 0
    return suppressed, complained


def _per_day(tenant_id: Any, first: date) -> list[dict[str, Any]]:
    """Recipients created each day by their status now, live and archived (retention keeps the counts)."""
    since = datetime.combine(first, datetime.min.time(), tzinfo=UTC)
    days: dict[str, dict[str, int]] = {
        (first + timedelta(days=n)).isoformat(): {} for n in range(CHART_DAYS)
    }
    live = db.session.execute(
        select(func.date(Recipient.created_at), Recipient.status, func.count())
        .where(Recipient.tenant_id == tenant_id, Recipient.created_at >= since)
        .group_by(func.date(Recipient.created_at), Recipient.status)
    ).all()
    archived = db.session.execute(
        select(func.date(DeliveryStat.period_start), DeliveryStat.status, func.sum(DeliveryStat.count))
        .where(DeliveryStat.tenant_id == tenant_id, DeliveryStat.period_start >= since,
               DeliveryStat.scope == StatScope.RECIPIENT.value)
        .group_by(func.date(DeliveryStat.period_start), DeliveryStat.status)
    ).all()
    for day, status, count in [*live, *archived]:
        bucket = days.get(str(day))
        if bucket is not None:
            bucket[status] = bucket.get(status, 0) + int(count)
    return [{"day": day, **counts} for day, counts in days.items()]


def tenant_overview(principal: Principal) -> dict[str, Any]:
    """Everything the overview shows, as plain values (the console may keep it for a minute)."""
    tenant_id = principal.tenant_id
    admin_view = Principal(principal.kind, principal.id, tenant_id, "admin")  # the whole tenant's counts
    stats = tenant_stats(admin_view)
    now = datetime.now(UTC)
    for name, span in WINDOWS.items():
        stats[name]["suppressed"], stats[name]["complained"] = _suppressed_and_complained(tenant_id, now - span)
    waiting = dict(db.session.execute(
        select(Recipient.status, func.count()).where(Recipient.tenant_id == tenant_id, Recipient.status.in_(WAITING))
        .group_by(Recipient.status)
    ).tuples().all())
    failures = db.session.execute(
        select(Recipient.message_id, Recipient.email, Recipient.status, Recipient.error_code, Recipient.smtp_code,
               Recipient.enhanced_code, Recipient.smtp_response, Recipient.updated_at)
        .where(Recipient.tenant_id == tenant_id, Recipient.status.in_(("failed", "bounced")))
        .order_by(Recipient.created_at.desc()).limit(LATEST_FAILURES)
    ).mappings().all()
    return {
        "generated_at": now.isoformat(),
        "windows": {name: stats[name] for name in WINDOWS},
        "days": _per_day(tenant_id, (now - timedelta(days=CHART_DAYS - 1)).date()),
        "waiting": {status: int(waiting.get(status, 0)) for status in WAITING},
        "failures": [{**row, "message_id": str(row["message_id"]), "updated_at": row["updated_at"].isoformat()}
                     for row in failures],
    }
