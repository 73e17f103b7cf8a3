"""The outbox rule: commit the message and its recipients, then enqueue ids.

If Redis is unreachable the request still succeeds; the rows stay queued and the
sweeper enqueues them once Redis is back.
"""

from __future__ import annotations

import logging
import uuid

from redis.exceptions import RedisError

from mailer.extensions import db
from mailer.models import Message, MessageStatus
from mailer.queues import enqueue

log = logging.getLogger(__name__)


def commit_and_enqueue(message: Message) -> bool:
    """Commit, then enqueue delivery. Returns whether the job reached Redis."""
    db.session.add(message)
    db.session.commit()
    if message.status == MessageStatus.SCHEDULED:
        return False
    return enqueue_delivery(message.id, message.queue)


def enqueue_delivery(message_id: uuid.UUID, queue: str) -> bool:
    try:
        enqueue(queue, "mailer.jobs.deliver_message", str(message_id))
    except RedisError:
        log.warning("enqueue failed; the sweeper will pick the message up", extra={"message_id": str(message_id)})
        return False
    return True
