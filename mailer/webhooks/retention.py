"""Keeping the webhook history bounded: for retention (`flask purge`, API.md §11) and erasure.

Both add deletes to the caller's session; the caller commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, exists, select
from sqlalchemy.orm import Session

from mailer.models.webhook import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEvent

_FINISHED = (DeliveryStatus.SUCCEEDED, DeliveryStatus.FAILED)


def purge_webhook_history(session: Session, before: datetime) -> int:
    """Finished deliveries created before ``before`` with their attempt logs, and the events no
    delivery refers to any more. Pending deliveries are kept whatever their age. Returns events deleted."""
    old = select(WebhookDelivery.id).where(WebhookDelivery.status.in_(_FINISHED), WebhookDelivery.created_at < before)
    session.execute(delete(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(old)))
    session.execute(delete(WebhookDelivery).where(WebhookDelivery.status.in_(_FINISHED),
                                                  WebhookDelivery.created_at < before))
    orphaned = delete(WebhookEvent).where(
        WebhookEvent.created_at < before,
        ~exists().where(WebhookDelivery.event_id == WebhookEvent.id),
    )
    return session.execute(orphaned).rowcount or 0


def forget_message_events(session: Session, message_ids: Sequence[uuid.UUID]) -> int:
    """Every event about these messages (they carry recipients' addresses), with its deliveries and
    attempt logs, pending or not: for erasure, and for purging the messages themselves."""
    if not message_ids:
        return 0
    events = list(session.scalars(select(WebhookEvent.id).where(WebhookEvent.subject_id.in_(list(message_ids)))))
    return forget_events(session, events)


def forget_events(session: Session, event_ids: Sequence[uuid.UUID]) -> int:
    """These events with their deliveries and attempt logs, pending or not (erasure of what they carry)."""
    if not event_ids:
        return 0
    ids = list(event_ids)
    deliveries = select(WebhookDelivery.id).where(WebhookDelivery.event_id.in_(ids))
    session.execute(delete(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(deliveries)))
    session.execute(delete(WebhookDelivery).where(WebhookDelivery.event_id.in_(ids)))
    return session.execute(delete(WebhookEvent).where(WebhookEvent.id.in_(ids))).rowcount or 0
