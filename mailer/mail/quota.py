"""The per-tenant daily recipient quota (TENANT_DAILY_QUOTA; 0 turns it off).

Counts the recipients of API messages and broadcasts the tenant had accepted since
midnight UTC, in the database (the source of truth). The tenant row is locked first
(SELECT … FOR UPDATE on PostgreSQL) so two requests of one tenant are counted one
after the other; the lock lasts until the caller commits or rolls back. Account mail (verification,
reset, notices) is never counted, so a full quota cannot lock users out.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from mailer.config import Config
from mailer.errors import QuotaExceededError
from mailer.extensions import db
from mailer.models import Message, MessageKind, Recipient, Tenant

COUNTED_KINDS = (MessageKind.CUSTOM.value, MessageKind.BROADCAST.value)


def used_today(tenant_id: uuid.UUID, since: datetime) -> int:
    return db.session.scalar(
        select(func.count(Recipient.id))
        .join(Message, Message.id == Recipient.message_id)
        .where(Recipient.tenant_id == tenant_id, Recipient.created_at >= since, Message.kind.in_(COUNTED_KINDS))
    ) or 0


def reserve_recipients(config: Config, tenant_id: uuid.UUID, count: int) -> None:
    """Raise QuotaExceededError (429, with its limit headers) unless `count` more recipients fit in today's quota.

    On a refusal the tenant row stays locked: the caller rolls its transaction back.
    """
    quota = config.TENANT_DAILY_QUOTA
    if quota <= 0:
        return
    db.session.execute(select(Tenant.id).where(Tenant.id == tenant_id).with_for_update())
    now = datetime.now(UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    used = used_today(tenant_id, midnight)
    if used + count <= quota:
        return
    reset = midnight + timedelta(days=1)
    headers = {
        "Retry-After": str(max(1, int((reset - now).total_seconds()))),
        "X-RateLimit-Limit": str(quota),
        "X-RateLimit-Remaining": str(max(0, quota - used)),
        "X-RateLimit-Reset": str(int(reset.timestamp())),
    }
    raise QuotaExceededError(
        f"{count} recipient(s) would pass the tenant's daily quota of {quota} ({max(0, quota - used)} left today).",
        headers=headers,
    )
