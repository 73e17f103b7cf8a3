"""The per-tenant daily recipient quota (TENANT_DAILY_QUOTA; 0 turns it off) and, inside it, the
per-user one for role `user` (USER_DAILY_QUOTA; 0 turns it off), so that one self-registered
account cannot spend its tenant's day.

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


def used_today(tenant_id: uuid.UUID, since: datetime, created_by: uuid.UUID | None = None) -> int:
    query = (
        select(func.count(Recipient.id))
        .join(Message, Message.id == Recipient.message_id)
        .where(Recipient.tenant_id == tenant_id, Recipient.created_at >= since, Message.kind.in_(COUNTED_KINDS))
    )
    if created_by is not None:
        query = query.where(Message.created_by == created_by, Message.creator_type == "user")
    return db.session.scalar(query) or 0


def reserve_recipients(config: Config, tenant_id: uuid.UUID, count: int, *, user_id: uuid.UUID | None = None) -> None:
    """Raise QuotaExceededError (429, with its limit headers) unless `count` more recipients fit in today's
    quota: the tenant's, and the user's own when `user_id` (a caller of role `user`) is given.

    On a refusal the tenant row stays locked: the caller rolls its transaction back.
    """
    if config.TENANT_DAILY_QUOTA <= 0 and (user_id is None or config.USER_DAILY_QUOTA <= 0):
        return
    db.session.execute(select(Tenant.id).where(Tenant.id == tenant_id).with_for_update())
    now = datetime.now(UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if config.TENANT_DAILY_QUOTA > 0:
        _check(config.TENANT_DAILY_QUOTA, used_today(tenant_id, midnight), count, now, midnight, "tenant's")
    if user_id is not None and config.USER_DAILY_QUOTA > 0:
        _check(config.USER_DAILY_QUOTA, used_today(tenant_id, midnight, user_id), count, now, midnight, "user's")


def _check(quota: int, used: int, count: int, now: datetime, midnight: datetime, whose: str) -> None:
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
        f"{count} recipient(s) would pass the {whose} daily quota of {quota} ({max(0, quota - used)} left today).",
        headers=headers,
    )
