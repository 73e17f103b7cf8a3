"""The console's overview figures for a tenant (API.md §12): GET /v1/stats's counts, plus what the
overview adds — suppressed and complained in each window, a count per day, what is waiting now and the
latest failures. Tenant-wide, as the stats are for an admin.

Counting a month of a busy tenant takes seconds (a million recipients grouped by day and status), so a
page never waits for it but the first: the figures are kept in Redis, and a view of figures older than
FRESH_SECONDS queues one recount (a `bulk` job) and shows what is kept, with its time.
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy import func, select

from mailer.extensions import db
from mailer.models import (
    UNDELIVERED,
    UNFINISHED,
    ActorType,
    DeliveryStat,
    FeedbackOutcome,
    FeedbackRecord,
    Recipient,
    RecipientStatus,
    Role,
    StatScope,
)
from mailer.notifications.stats import WINDOWS, tenant_stats
from mailer.queues import enqueue, get_redis
from mailer.security.types import Principal
from mailer.smtp.results import ErrorCode

log = logging.getLogger(__name__)
FRESH_SECONDS = 60
KEEP_SECONDS = 24 * 3600

CHART_DAYS = 30
LATEST_FAILURES = 10


def _suppressed_and_complained(tenant_id: Any, since: datetime) -> tuple[int, int]:
    suppressed = db.session.scalar(
        select(func.count()).select_from(Recipient).where(
            Recipient.tenant_id == tenant_id, Recipient.created_at >= since, Recipient.status == RecipientStatus.FAILED,
            Recipient.error_code == ErrorCode.SUPPRESSED)
    ) or 0
    complained = db.session.scalar(
        select(func.count()).select_from(FeedbackRecord).where(
            FeedbackRecord.tenant_id == tenant_id, FeedbackRecord.created_at >= since,
            FeedbackRecord.kind == FeedbackOutcome.COMPLAINED)
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
               DeliveryStat.scope == StatScope.RECIPIENT)
        .group_by(func.date(DeliveryStat.period_start), DeliveryStat.status)
    ).all()
    for day, status, count in [*live, *archived]:
        bucket = days.get(str(day))
        if bucket is not None:
            bucket[status] = bucket.get(status, 0) + int(count)
    return [{"day": day, **counts} for day, counts in days.items()]


def _key(tenant_id: uuid.UUID) -> str:
    return f"mailer:overview:{tenant_id}"


def current_overview(tenant_id: uuid.UUID) -> dict[str, Any]:
    """The figures kept for the tenant (a recount queued when they are stale); counted here only when
    none are kept (the first view) or Redis is down."""
    try:
        kept = get_redis().get(_key(tenant_id))
    except RedisError:
        log.warning("overview figures not kept: Redis unavailable, counting in the request")
        return tenant_overview(tenant_id)
    if kept is None:
        return refresh(tenant_id)
    figures: dict[str, Any] = json.loads(kept)
    age = datetime.now(UTC) - datetime.fromisoformat(figures["generated_at"])
    if age > timedelta(seconds=FRESH_SECONDS):
        try:
            if get_redis().set(_key(tenant_id) + ":recount", "1", nx=True, ex=FRESH_SECONDS):
                enqueue("bulk", "mailer.worker.jobs.refresh_overview", str(tenant_id))
        except RedisError:
            log.warning("overview recount not queued: Redis unavailable")
    return figures


def refresh(tenant_id: uuid.UUID) -> dict[str, Any]:
    """Count now and keep the figures (the `refresh_overview` job, and a first view)."""
    figures = tenant_overview(tenant_id)
    try:
        get_redis().set(_key(tenant_id), json.dumps(figures), ex=KEEP_SECONDS)
    except RedisError:
        log.warning("overview figures not kept: Redis unavailable")
    return figures


def tenant_overview(tenant_id: uuid.UUID) -> dict[str, Any]:
    """Everything the overview shows, as plain values."""
    admin_view = Principal(ActorType.USER, uuid.UUID(int=0), tenant_id, Role.ADMIN)  # the whole tenant's counts
    stats = tenant_stats(admin_view)
    now = datetime.now(UTC)
    for name, span in WINDOWS.items():
        stats[name]["suppressed"], stats[name]["complained"] = _suppressed_and_complained(tenant_id, now - span)
    waiting = dict(db.session.execute(
        select(Recipient.status, func.count()).where(Recipient.tenant_id == tenant_id, Recipient.status.in_(UNFINISHED))
        .group_by(Recipient.status)
    ).tuples().all())
    failures = db.session.execute(
        select(Recipient.message_id, Recipient.email, Recipient.status, Recipient.error_code, Recipient.smtp_code,
               Recipient.enhanced_code, Recipient.smtp_response, Recipient.updated_at)
        .where(Recipient.tenant_id == tenant_id, Recipient.status.in_(UNDELIVERED))
        .order_by(Recipient.created_at.desc()).limit(LATEST_FAILURES)
    ).mappings().all()
    return {
        "generated_at": now.isoformat(),
        "windows": {name: stats[name] for name in WINDOWS},
        "days": _per_day(tenant_id, (now - timedelta(days=CHART_DAYS - 1)).date()),
        "waiting": {status: int(waiting.get(status, 0)) for status in UNFINISHED},
        "failures": [{**row, "message_id": str(row["message_id"]), "updated_at": row["updated_at"].isoformat()}
                     for row in failures],
    }
