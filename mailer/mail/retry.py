"""Re-queues a message's failed recipients (admin action); their delivery events are kept."""

from __future__ import annotations

import uuid
from functools import partial

from sqlalchemy import select, update

from mailer.audit import record_audit
from mailer.extensions import atomic, db
from mailer.mail.outbox import requeue
from mailer.mail.recording import roll_up
from mailer.models import WAITING, Message, MessageStatus, Recipient, RecipientStatus
from mailer.security.types import Principal


def requeue_failed(principal: Principal, message: Message) -> int:
    """Failed → queued with a fresh attempt budget, then enqueue; returns how many were re-queued."""
    with atomic() as unit:
        result = db.session.execute(
            update(Recipient)
            .where(Recipient.message_id == message.id, Recipient.tenant_id == message.tenant_id,
                   Recipient.status == RecipientStatus.FAILED)
            .values(status=RecipientStatus.QUEUED, error_code=None, last_error=None, attempts=0,
                    next_attempt_at=None, lease_until=None)
            .execution_options(synchronize_session=False)
        )
        count = result.rowcount or 0
        if not count:
            return 0
        roll_up([message.id])
        db.session.expire(message)
        if message.status == MessageStatus.SCHEDULED:
            message.status = MessageStatus.QUEUED
        record_audit("message.retried", tenant_id=message.tenant_id, actor_id=principal.id, actor_type=principal.kind,
                     details={"message_id": str(message.id), "recipients": count})
        unit.after_commit(partial(_requeue_waiting, message.id, message.queue))
    return count


def _requeue_waiting(message_id: uuid.UUID, queue: str) -> None:
    ids = db.session.scalars(
        select(Recipient.id).where(Recipient.message_id == message_id,
                                   Recipient.status.in_(WAITING))
        .order_by(Recipient.position)
    ).all()
    requeue(list(ids), queue)
