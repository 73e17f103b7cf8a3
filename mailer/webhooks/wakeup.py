"""Waking the dispatcher: a nudge after each commit that wrote webhook events (never before it: a job
that ran before the commit would not see them), a run scheduled for the next retry, and the sweep hook.

Writers of deliveries call ``nudge_after_commit`` inside their ``extensions.atomic()`` block.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta

from flask import current_app
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy.orm import Session

from mailer.config import Config
from mailer.extensions import current_unit, db
from mailer.queues import QUEUE_NAMES, get_queue, get_redis
from mailer.webhooks.bounds import job_timeout, key_ttl
from mailer.webhooks.claims import count_due

log = logging.getLogger(__name__)

QUEUE = "bulk"
DISPATCH_JOB = "mailer.webhooks.jobs.dispatch_webhooks"
QUEUED_KEY = "mailer:webhooks:queued"
SCHEDULED_KEY = "mailer:webhooks:scheduled"
LOCK_KEY = "mailer:webhooks:running"


def nudge(redis: Redis, config: Config) -> bool:
    """Enqueue a dispatcher run unless one is queued already; False when Redis is unreachable."""
    try:
        if redis.set(QUEUED_KEY, "1", nx=True, ex=key_ttl(config)):
            get_queue(QUEUE, redis).enqueue(DISPATCH_JOB, job_id=f"webhooks-{uuid.uuid4().hex}",
                                            job_timeout=job_timeout(config), result_ttl=60, failure_ttl=86400)
        return True
    except RedisError:
        log.warning("could not enqueue the webhook dispatcher; the sweep will")
        return False


def schedule(redis: Redis, config: Config, at: datetime) -> None:
    """A run at ``at``, unless one is already scheduled no later than that (a nudge runs sooner anyway).

    The key holds the time of the earliest scheduled run; an earlier retry schedules another run.
    """
    now = datetime.now(UTC).timestamp()
    # RQ's scheduler keeps whole seconds, so a scheduled run may start up to a second early: aim a second late.
    seconds = max(1.0, at.timestamp() - now + 1.0)
    when = now + seconds
    try:
        planned = redis.get(SCHEDULED_KEY)
        # A planned time already reached is this very run (started early), not a run still to come.
        if planned is not None and now + 1 < float(planned) <= when + 1:
            return
        redis.set(SCHEDULED_KEY, f"{when:.3f}", px=int(seconds * 1000))
        get_queue(QUEUE, redis).enqueue_in(timedelta(seconds=seconds), DISPATCH_JOB,
                                           job_id=f"webhooks-{uuid.uuid4().hex}",
                                           job_timeout=job_timeout(config), result_ttl=60, failure_ttl=86400)
    except RedisError:
        log.warning("could not schedule the webhook dispatcher; the sweep will")


def sweep_deliveries(session: Session, redis: Redis, config: Config) -> int:
    """The sweep hook: nudge the dispatcher when deliveries are due. Returns how many are."""
    due = count_due(session, datetime.now(UTC))
    session.rollback()
    if due:
        nudge(redis, config)
    return due


def mail_waiting(redis: Redis) -> bool:
    """Whether a job waits in a mail queue (then the dispatcher gives its worker back)."""
    try:
        with redis.pipeline(transaction=False) as pipe:
            for name in QUEUE_NAMES:
                pipe.llen(get_queue(name, redis).key)
            return any(pipe.execute())
    except RedisError:
        return False


def nudge_after_commit() -> None:
    """Nudge the dispatcher once the enclosing ``atomic()`` block commits (once, however many writers ask)."""
    current_unit().after_commit(_nudge_dispatcher, key=_nudge_dispatcher)


def _nudge_dispatcher() -> None:
    nudge(get_redis(), current_app.config["MAILER"])


def sweep_webhooks() -> int:
    """Sweep hook (mailer.mail.sweeper): nudge the dispatcher when deliveries are due."""
    return sweep_deliveries(db.session, get_redis(), current_app.config["MAILER"])
