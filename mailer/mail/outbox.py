"""The outbox rule: stage the rows in the service's transaction; once it commits, enqueue jobs carrying recipient ids.

Three steps: ``stage(message)`` gives the recipients their job ids before any insert (the one place a row
gets a job id: ORM and Core inserts read them from the message's recipients, a broadcast's COPY from the
jobs staged for the row ids it made), ``enqueue(jobs)`` runs them once the enclosing ``extensions.atomic()``
block commits, and ``requeue(rows, queue, at)`` gives committed rows new jobs (the sweeper, retries, an
admin's retry; a deferral, given with its own time, is enqueued for that time).

Every recipient row names the RQ job last enqueued for it (``job_id``, written before the
job reaches Redis). If Redis is unreachable the request still succeeds: the job never
existed, so the sweeper, which asks Redis whether a row's job is alive, enqueues the row
once Redis is back. Jobs are bounded (DELIVERY_BATCH_SIZE recipients, one SMTP server).
A tenant's ``bulk`` jobs, queued behind other tenants' broadcasts, also put it in the bulk lane's
waiting line (mail/turns.py), where a running loop takes it over. While a delivery loop runs for the
tenant (mail/delivery_loop.py), due mail other than
``critical`` is handed to it with a nudge instead of a job; should that loop die first, the
row's job never existed and the sweeper enqueues it, as after a Redis outage. ``critical`` mail
gets its job (another worker may be free sooner) and the nudge too: a loop waiting for nudges
would otherwise see it only at its next poll, and the loop that takes it discards the job.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial

from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy import select, update

from mailer.config import Config
from mailer.extensions import atomic, current_unit, db
from mailer.mail import nudges, turns
from mailer.mail.recording import Deferral
from mailer.mail.transport import job_timeout
from mailer.models import Message, MessageStatus, Recipient
from mailer.queues import enqueue as rq_enqueue
from mailer.queues import enqueue_many

log = logging.getLogger(__name__)

DELIVER_JOB = "mailer.worker.jobs.deliver_recipients"


@dataclass(frozen=True)
class StagedJob:
    """A delivery job whose recipients carry its id in the session; enqueued once that session commits."""

    queue: str
    job_id: str
    recipient_ids: tuple[uuid.UUID, ...]
    at: datetime | None
    owner: uuid.UUID | None = None  # the tenant, whose running delivery loop may take the job


def stage(message: Message, row_ids: Sequence[uuid.UUID] | None = None) -> list[StagedJob]:
    """The message's delivery jobs, DELIVERY_BATCH_SIZE recipients each, staged before anything is inserted:
    the INSERT (Core, COPY or ORM) carries each row's job id, no UPDATE follows; the caller inserts, then
    ``enqueue``s the jobs.

    Without ``row_ids`` the message's recipient objects get their ids and job ids here. A caller that writes
    its rows itself (a broadcast: no object per recipient) passes the ids of the rows that wait, in position
    order, and gives each row its job's id from the jobs, which list them in that order.
    """
    if row_ids is None:
        return stage_together([message])[0]
    size = _config().DELIVERY_BATCH_SIZE
    at = message.send_at if message.status == MessageStatus.SCHEDULED else None
    return [StagedJob(message.queue, _new_job_id(), tuple(row_ids[start:start + size]), at, message.tenant_id)
            for start in range(0, len(row_ids), size)]


def stage_together(messages: Sequence[Message]) -> list[list[StagedJob]]:
    """``stage`` for several messages' recipient objects, whose jobs may carry recipients of several messages of
    one queue, send time and tenant (DELIVERY_BATCH_SIZE at most, as the sweeper's requeue mixes them): a group
    of one-recipient messages costs one job, not one each. Each job is listed once, with the first message it
    carries."""
    size = _config().DELIVERY_BATCH_SIZE
    filling: dict[tuple[str, datetime | None, uuid.UUID], tuple[int, str, list[uuid.UUID]]] = {}
    made: list[tuple[tuple[str, datetime | None, uuid.UUID], tuple[int, str, list[uuid.UUID]]]] = []
    for index, message in enumerate(messages):
        key = (message.queue, message.send_at if message.status == MessageStatus.SCHEDULED else None,
               message.tenant_id)
        for recipient in message.recipients:
            recipient.id = recipient.id or uuid.uuid4()
            job = filling.get(key)
            if job is None or len(job[2]) >= size:
                job = filling[key] = (index, _new_job_id(), [])
                made.append((key, job))
            job[2].append(recipient.id)
            recipient.job_id = job[1]
    jobs: list[list[StagedJob]] = [[] for _ in messages]
    for (queue, at, owner), (index, job_id, ids) in made:
        jobs[index].append(StagedJob(queue, job_id, tuple(ids), at, owner))
    return jobs


def enqueue(jobs: Sequence[StagedJob]) -> None:
    """Enqueue the jobs once the enclosing ``extensions.atomic()`` block commits (with Redis down then, the
    sweeper enqueues them later); nothing when it rolls back."""
    current_unit().after_commit(partial(_enqueue_now, list(jobs)))


def _enqueue_now(jobs: Sequence[StagedJob]) -> bool:
    """Jobs staged in a transaction that has committed; whether every job reached Redis. Those due now go out
    per (queue, tenant) in one Redis pipeline each, the others one by one."""
    groups: dict[tuple[str, uuid.UUID | None], list[StagedJob]] = {}
    later: list[StagedJob] = []
    for job in jobs:
        if job.at is None:
            groups.setdefault((job.queue, job.owner), []).append(job)
        else:
            later.append(job)
    ok = True
    for job in later:
        ok = _enqueue_job(job.queue, job.job_id, list(job.recipient_ids), at=job.at, owner=job.owner) and ok
    for group in groups.values():
        ok = _enqueue_due_now(group) and ok
    return ok


def _enqueue_due_now(jobs: Sequence[StagedJob]) -> bool:
    """Jobs due now of one queue and tenant: one look for a running delivery loop, then one Redis pipeline."""
    queue, owner = jobs[0].queue, jobs[0].owner
    assert all(j.queue == queue and j.owner == owner and j.at is None for j in jobs), "one queue, one owner, due now"
    if owner is not None and _handed_to_a_running_loop(owner) and queue != "critical":
        return True
    try:
        enqueue_many(queue, DELIVER_JOB, [(j.job_id, [str(rid) for rid in j.recipient_ids]) for j in jobs],
                     timeout=job_timeout(_config()), result_ttl=600, failure_ttl=7 * 86400)
        _wait_for_a_turn(queue, owner)
    except RedisError:
        log.warning("enqueue failed; the sweeper will pick the recipients up", extra={"jobs": len(jobs)})
        return False
    return True


def requeue(rows: Sequence[uuid.UUID | Deferral], queue: str, at: datetime | None = None,
            *, nudge: bool = True) -> bool:
    """Enqueue delivery of committed recipients again (the sweeper, retries) in bounded jobs. A recipient id goes
    in jobs grouped by tenant (so by SMTP server), delayed to ``at`` if given; a ``Deferral`` goes at its own
    next_attempt_at, in a few jobs for many rows (time buckets). Commits each row's new job id before its job
    is enqueued.

    The delays are RQ scheduler times; the rows' next_attempt_at is what actually decides when they are due.
    ``nudge=False`` always makes jobs (the sweeper: a loop that looks alive may be a killed one). Returns
    whether every job reached Redis.
    """
    config = _config()
    deferrals = [row for row in rows if isinstance(row, Deferral)]
    ids = [row for row in rows if not isinstance(row, Deferral)]
    ok = True
    for when, bucket in _time_buckets(deferrals, config.DELIVERY_BATCH_SIZE):
        ok = _assign_and_enqueue(queue, bucket, when) and ok
    by_tenant: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    for chunk in _batches(ids, 500):
        for rid, tenant_id in db.session.execute(
            select(Recipient.id, Recipient.tenant_id).where(Recipient.id.in_(chunk)).order_by(Recipient.position)
        ):
            by_tenant[tenant_id].append(rid)
    for tenant_id, tenant_ids in by_tenant.items():
        for batch in _batches(tenant_ids, config.DELIVERY_BATCH_SIZE):
            ok = _assign_and_enqueue(queue, list(batch), at, owner=tenant_id if nudge else None) and ok
    return ok


def _new_job_id() -> str:
    return f"deliver-{uuid.uuid4().hex}"


def _assign_and_enqueue(queue: str, ids: list[uuid.UUID], at: datetime | None,
                        owner: uuid.UUID | None = None) -> bool:
    job_id = _new_job_id()
    with atomic():
        db.session.execute(
            update(Recipient).where(Recipient.id.in_(ids)).values(job_id=job_id)
            .execution_options(synchronize_session=False)
        )
    return _enqueue_job(queue, job_id, ids, at=at, owner=owner)


def _enqueue_job(queue: str, job_id: str, ids: list[uuid.UUID], at: datetime | None = None,
                 owner: uuid.UUID | None = None) -> bool:
    due_now = at is None or at <= datetime.now(UTC)
    if due_now and owner is not None and _handed_to_a_running_loop(owner) and queue != "critical":
        return True
    try:
        rq_enqueue(queue, DELIVER_JOB, [str(rid) for rid in ids], at=at, job_id=job_id,
                job_timeout=job_timeout(_config()), result_ttl=600, failure_ttl=7 * 86400)
        if due_now:
            _wait_for_a_turn(queue, owner)
    except RedisError:
        log.warning("enqueue failed; the sweeper will pick the recipients up", extra={"job_id": job_id})
        return False
    return True


def _handed_to_a_running_loop(owner: uuid.UUID) -> bool:
    """Nudge the tenant's running delivery loop, if there is one (then no job is needed but for critical mail)."""
    try:
        return nudges.nudge_if_looping(current_app.extensions["redis"], owner)
    except RedisError:
        return False


def _wait_for_a_turn(queue: str, owner: uuid.UUID | None) -> None:
    """Bulk mail of a tenant no loop serves: its job queues behind every other tenant's, so the tenant also
    waits in line for a running loop to hand it a worker (mail/turns.py); a hint, so Redis trouble is no error."""
    if queue != "bulk" or owner is None:
        return
    try:
        turns.wait_in_line(current_app.extensions["redis"], owner)
    except RedisError:
        log.debug("could not put the tenant in line; its jobs still reach its rows")


def _time_buckets(deferrals: Sequence[Deferral], size: int) -> Iterator[tuple[datetime, list[uuid.UUID]]]:
    """Group retries whose times are close (within a tenth of the wait, at least a second); run at the latest."""
    now = datetime.now(UTC)
    ordered = sorted(deferrals, key=lambda d: d.next_attempt_at)
    bucket: list[uuid.UUID] = []
    start = last = now
    for deferral in ordered:
        at = deferral.next_attempt_at
        width = max(timedelta(seconds=1), (start - now) / 10)
        if bucket and (at - start > width or len(bucket) >= size):
            yield last, bucket
            bucket = []
        if not bucket:
            start = at
        bucket.append(deferral.recipient_id)
        last = at
    if bucket:
        yield last, bucket


def _batches(items: Sequence[object], size: int) -> Iterator[Sequence[object]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _config() -> Config:
    return current_app.config["MAILER"]
