"""Deletes finished messages past retention, with their recipients and events, in short transactions.

A message is finished when none of its recipients is still waiting (queued, sending, deferred), so
a deferred or scheduled message is never purged however old it is. Each transaction deletes at most
RECIPIENTS_PER_TRANSACTION recipients (with their events, counted into the archive first), then the
messages whose recipients are all gone; a purge stopped half-way is finished by the next one.

A package that keeps rows per message or recipient has a ``purger`` in ``_recipient_purgers`` or
``_message_purgers``: a callable given the ids about to be deleted, run in the same transaction before the rows go.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, exists, select

from mailer.config import Config
from mailer.extensions import db
from mailer.models import UNFINISHED, BroadcastContent, DeliveryEvent, FeedbackRecord, Message, Recipient, Tenant
from mailer.retention.archive import archive_messages, archive_recipients
from mailer.retention.policy import retention_cutoff
from mailer.webhooks.retention import forget_message_events, purge_webhook_history

log = logging.getLogger(__name__)

MESSAGES_PER_TRANSACTION = 200
RECIPIENTS_PER_TRANSACTION = 1000

RecipientPurger = Callable[[Sequence[uuid.UUID]], object]
MessagePurger = Callable[[Sequence[uuid.UUID]], object]


def _forget_feedback(recipient_ids: Sequence[uuid.UUID]) -> None:
    db.session.execute(delete(FeedbackRecord).where(FeedbackRecord.recipient_id.in_(list(recipient_ids))))


def _forget_webhook_events(message_ids: Sequence[uuid.UUID]) -> None:
    forget_message_events(db.session, message_ids)


_recipient_purgers: list[RecipientPurger] = [_forget_feedback]
_message_purgers: list[MessagePurger] = [_forget_webhook_events]


@dataclass
class PurgeReport:
    messages: int = 0
    recipients: int = 0
    by_tenant: dict[str, int] = field(default_factory=dict)
    complete: bool = True  # False: the time budget ran out first; a later purge goes on from there
    webhook_events: int = 0  # events without a message, past retention


def purge_expired(config: Config, now: datetime | None = None, budget_seconds: float | None = None) -> PurgeReport:
    """Apply every tenant's retention now; commits as it goes. With a budget, stops between
    transactions once it is spent (``complete`` False)."""
    now = now or datetime.now(UTC)
    deadline = None if budget_seconds is None else time.monotonic() + budget_seconds
    report = PurgeReport()
    for tenant in db.session.scalars(select(Tenant).order_by(Tenant.created_at)).all():
        cutoff = retention_cutoff(config, tenant, now)
        purged = _purge_tenant(tenant.id, cutoff, report, deadline)
        if purged:
            report.by_tenant[tenant.slug] = purged
        if not report.complete:
            break
    if report.complete:
        # Webhook events without a message (suppression.created, webhook.test, broadcast.finished) carry
        # addresses too (review N6): their finished deliveries and the events go after the retention period.
        report.webhook_events = purge_webhook_history(
            db.session, now - timedelta(days=config.MESSAGE_RETENTION_DAYS))
        db.session.commit()
    if report.messages:
        log.info("retention purged %d messages, %d recipients", report.messages, report.recipients,
                 extra={"by_tenant": report.by_tenant})
    return report


def _purge_tenant(tenant_id: uuid.UUID, cutoff: datetime, report: PurgeReport, deadline: float | None) -> int:
    purged = 0
    while ids := _finished_before(tenant_id, cutoff):
        if deadline is not None and time.monotonic() > deadline:
            report.complete = False
            break
        report.recipients += _purge_recipients(ids)
        _delete(ids, archive_messages, _message_purgers,
                delete(BroadcastContent).where(BroadcastContent.message_id.in_(ids)),
                delete(Message).where(Message.id.in_(ids)))
        purged += len(ids)
        report.messages += len(ids)
    return purged


def _finished_before(tenant_id: uuid.UUID, cutoff: datetime) -> list[uuid.UUID]:
    unfinished = exists().where(Recipient.message_id == Message.id, Recipient.status.in_(UNFINISHED))
    return list(db.session.scalars(
        select(Message.id).where(Message.tenant_id == tenant_id, Message.created_at < cutoff, ~unfinished)
        .order_by(Message.created_at).limit(MESSAGES_PER_TRANSACTION)
    ))


def _purge_recipients(message_ids: Sequence[uuid.UUID]) -> int:
    """Delete the messages' recipients and events, a transaction per RECIPIENTS_PER_TRANSACTION."""
    count = 0
    while ids := list(db.session.scalars(
        select(Recipient.id).where(Recipient.message_id.in_(message_ids)).limit(RECIPIENTS_PER_TRANSACTION)
    )):
        _delete(ids, archive_recipients, _recipient_purgers,
                delete(DeliveryEvent).where(DeliveryEvent.recipient_id.in_(ids)),
                delete(Recipient).where(Recipient.id.in_(ids)))
        count += len(ids)
    return count


def _delete(ids: Sequence[uuid.UUID], archive: Callable[[Sequence[uuid.UUID]], None],
            purgers: Sequence[Callable[[Sequence[uuid.UUID]], object]], *statements: Any) -> None:
    """One transaction: count the rows into the archive, let the purgers go first, delete, commit."""
    archive(ids)
    for purger in purgers:
        purger(ids)
    for statement in statements:
        db.session.execute(statement)
    db.session.commit()
