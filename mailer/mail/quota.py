"""The per-tenant daily recipient quota (TENANT_DAILY_QUOTA; 0 turns it off) and, inside it, the
per-user one for role `user` (USER_DAILY_QUOTA; 0 turns it off), so that one self-registered
account cannot spend its tenant's day.

Counts the recipients of API messages and broadcasts accepted since midnight UTC, in the database
(the source of truth): the tenant row (and a role-`user` caller's row) keeps a running count for its
``quota_day``, raised in the same transaction as the rows it counts, so a rolled-back request counts
nothing. The first reservation of a day, for each row, counts that day's recipients once (the old
way: a count that grows with the day's mail, which cost ~1 ms per 650 recipients on PostgreSQL on
every request); after that a reservation reads and raises one counter. The tenant row is locked first
(SELECT … FOR NO KEY UPDATE on PostgreSQL, see mailer/audit.py) so two requests of one tenant are
counted one after the other; the lock lasts until the caller commits or rolls back. Account mail
(verification, reset, notices) is never counted, so a full quota cannot lock users out. The counters
move only while a quota is on: a quota turned off and on again within one UTC day does not count
what was accepted in between.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, select, update

from mailer.config import Config
from mailer.errors import QuotaExceededError
from mailer.extensions import db
from mailer.models import ActorType, Message, MessageKind, Recipient, Tenant, User

COUNTED_KINDS = (MessageKind.CUSTOM, MessageKind.BROADCAST)
# The tenant's counter, built once: constructing the statement and its cache key cost more than the query.
_COUNTER = select(Tenant.quota_day, Tenant.quota_used).where(Tenant.id == bindparam("tenant_id"))
_COUNTER_LOCKED = _COUNTER.with_for_update(key_share=True)


def used_today(tenant_id: uuid.UUID, since: datetime, created_by: uuid.UUID | None = None) -> int:
    query = (
        select(func.count(Recipient.id))
        .join(Message, Message.id == Recipient.message_id)
        .where(Recipient.tenant_id == tenant_id, Recipient.created_at >= since, Message.kind.in_(COUNTED_KINDS))
    )
    if created_by is not None:
        query = query.where(Message.created_by == created_by, Message.creator_type == ActorType.USER)
    return db.session.scalar(query) or 0


def reserve_recipients(config: Config, tenant_id: uuid.UUID, count: int, *, user_id: uuid.UUID | None = None,
                       pending: int = 0) -> None:
    """Raise QuotaExceededError (429, with its limit headers) unless `count` more recipients fit in today's
    quota: the tenant's, and the user's own when `user_id` (a caller of role `user`) is given; else count them.

    ``pending``: how many of the `count` this transaction has already inserted (a recount sees them).
    Both checks come before either counter moves. On a refusal the tenant row stays locked: the caller
    rolls its transaction back.
    """
    if not quota_applies(config, user_id):
        return
    day, used = db.session.execute(_COUNTER_LOCKED, {"tenant_id": tenant_id}).one()
    values = counted(config, tenant_id, count, day, used, user_id=user_id, pending=pending)
    db.session.execute(
        update(Tenant).where(Tenant.id == tenant_id).values(**values).execution_options(synchronize_session=False)
    )


def check_room(config: Config, tenant_id: uuid.UUID, count: int) -> None:
    """Raise QuotaExceededError unless `count` more recipients fit in the tenant's quota today: a read only
    (no lock, nothing counted), for a door that must refuse early (SMTP RCPT); the commit still reserves."""
    if config.TENANT_DAILY_QUOTA <= 0:
        return
    now, midnight, used = _used_now(tenant_id)
    _check(config.TENANT_DAILY_QUOTA, used, count, now, midnight, "tenant's")


def room_left(config: Config, tenant_id: uuid.UUID, counter: tuple[date | None, int] | None = None) -> int | None:
    """How many recipients the tenant may still send today (None: no tenant quota); a read, as check_room.
    ``counter``: the tenant row's (quota_day, quota_used) when the caller has just read the row itself."""
    if config.TENANT_DAILY_QUOTA <= 0:
        return None
    return max(0, config.TENANT_DAILY_QUOTA - _used_now(tenant_id, counter)[2])


def _used_now(tenant_id: uuid.UUID, counter: tuple[date | None, int] | None = None) -> tuple[datetime, datetime, int]:
    now = datetime.now(UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    day, used = counter or db.session.execute(_COUNTER, {"tenant_id": tenant_id}).one()
    return now, midnight, used if day == midnight.date() else used_today(tenant_id, midnight)


def quota_applies(config: Config, user_id: uuid.UUID | None) -> bool:
    return config.TENANT_DAILY_QUOTA > 0 or (user_id is not None and config.USER_DAILY_QUOTA > 0)


def counted(config: Config, tenant_id: uuid.UUID, count: int, day: date | None, used: int, *,
            user_id: uuid.UUID | None = None, pending: int = 0) -> dict[str, Any]:
    """reserve_recipients on the tenant row's (quota_day, quota_used), which the caller read under the row's
    lock: raises QuotaExceededError, or moves the user's counter and returns the tenant row's new values
    for the caller to write in the same transaction ({} when no quota applies)."""
    if not quota_applies(config, user_id):
        return {}
    now = datetime.now(UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    tenant_used = used if day == midnight.date() else used_today(tenant_id, midnight) - pending
    if config.TENANT_DAILY_QUOTA > 0:
        _check(config.TENANT_DAILY_QUOTA, tenant_used, count, now, midnight, "tenant's")
    if user_id is not None and config.USER_DAILY_QUOTA > 0:
        day, used = db.session.execute(select(User.quota_day, User.quota_used).where(User.id == user_id)).one()
        user_used = used if day == midnight.date() else used_today(tenant_id, midnight, user_id) - pending
        _check(config.USER_DAILY_QUOTA, user_used, count, now, midnight, "user's")
        _set_counter(User, user_id, midnight, user_used + count)
    return {"quota_day": midnight.date(), "quota_used": tenant_used + count}


def _set_counter(model: type[Tenant] | type[User], row_id: uuid.UUID | None, midnight: datetime, used: int) -> None:
    db.session.execute(
        update(model).where(model.id == row_id).values(quota_day=midnight.date(), quota_used=used)
        .execution_options(synchronize_session=False)
    )


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
