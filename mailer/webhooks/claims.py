"""Claiming due webhook deliveries for one dispatcher round, as mail leases recipients.

A delivery is due when it is pending, its next attempt time has come, no live lease holds it, and its
endpoint is enabled and not backing off. The claim is one conditional UPDATE with a lease and a token
(candidates locked with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL); a dispatcher killed mid-round
leaves leases that run out, and the deliveries are claimed again, with the same ``webhook-id``.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.orm import Session

from mailer.models.webhook import DeliveryStatus, WebhookDelivery, WebhookEndpoint


def due_condition(now: datetime) -> ColumnElement[bool]:
    return and_(
        WebhookDelivery.status == DeliveryStatus.PENDING,
        or_(WebhookDelivery.next_attempt_at.is_(None), WebhookDelivery.next_attempt_at <= now),
        or_(WebhookDelivery.lease_until.is_(None), WebhookDelivery.lease_until < now),
    )


def endpoint_ready(now: datetime) -> ColumnElement[bool]:
    return and_(
        WebhookEndpoint.enabled.is_(True),
        or_(WebhookEndpoint.blocked_until.is_(None), WebhookEndpoint.blocked_until <= now),
    )


def claim_due(session: Session, now: datetime, limit: int, lease_seconds: float, *,
              exclude_endpoints: Collection[uuid.UUID] = (), exclude_tenants: Collection[uuid.UUID] = (),
              ) -> tuple[str, list[uuid.UUID]]:
    """(token, ids) of up to ``limit`` due deliveries, leased to this claim; commits. Endpoints already in
    flight and tenants at their lane cap are left out (the scheduler's fairness)."""
    token = uuid.uuid4().hex
    query = (
        select(WebhookDelivery.id)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(due_condition(now), endpoint_ready(now))
    )
    if exclude_endpoints:
        query = query.where(WebhookDelivery.endpoint_id.not_in(list(exclude_endpoints)))
    if exclude_tenants:
        query = query.where(WebhookDelivery.tenant_id.not_in(list(exclude_tenants)))
    candidates = session.scalars(
        query
        .order_by(WebhookDelivery.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True, of=WebhookDelivery)
    ).all()
    if not candidates:
        session.rollback()
        return token, []
    claimed = session.scalars(
        update(WebhookDelivery)
        .where(WebhookDelivery.id.in_(candidates), due_condition(now))
        .values(lease_until=now + timedelta(seconds=lease_seconds), claim_token=token)
        .returning(WebhookDelivery.id)
        .execution_options(synchronize_session=False)
    ).all()
    session.commit()
    return token, list(claimed)


def count_due(session: Session, now: datetime) -> int:
    return session.scalar(
        select(func.count()).select_from(WebhookDelivery)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(due_condition(now), endpoint_ready(now))
    ) or 0


def next_due_at(session: Session, now: datetime) -> datetime | None:
    """Roughly when the next pending delivery of an enabled endpoint becomes due (after its lease and
    its endpoint's backoff); looks at the earliest few hundred only."""
    rows = session.execute(
        select(WebhookDelivery.next_attempt_at, WebhookDelivery.lease_until, WebhookEndpoint.blocked_until)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(WebhookDelivery.status == DeliveryStatus.PENDING, WebhookEndpoint.enabled.is_(True))
        .order_by(WebhookDelivery.next_attempt_at)
        .limit(300)
    ).all()
    times = [max([t for t in row if t is not None], default=now) for row in rows]
    return max(min(times), now) if times else None
