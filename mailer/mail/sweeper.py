"""The sweeper: rebuilds the work from the database, whatever happened to Redis or to workers.

``sweep()`` enqueues every recipient that is due — ``queued``/``deferred`` past its
``next_attempt_at``, or ``sending`` under a lease that ran out — and whose job is not
alive in Redis (never enqueued because Redis was down, lost in a flush, or its worker was
killed). It then runs the sweep hooks other packages registered for their own pending work.

It runs every SWEEP_INTERVAL_SECONDS: the web processes, every job on its way out and
MailerWorker's heartbeat offer it (mailer.worker.clock), and a Redis key with that TTL
(``periodic_sweep_due``) lets exactly one offer per interval run it, there and then, in a
process that has the app already (never a job of its own: on a bare worker that would cost a
work horse every interval). The sweep itself holds a lock, so two sweeps (periodic or
``flask --app wsgi sweep``) never overlap. After a Redis flush the key is gone and the next
offer starts over.

The database, not RQ's scheduler, decides when a row is due: a job RQ still holds as scheduled
more than ``SCHEDULED_GRACE_SECONDS`` after its time counts as no live job (its scheduler may be
a killed worker holding the scheduler locks), so the sweep enqueues the row at once; claims make
the second copy of the nudge harmless.

Hooks: ``register_sweep_hook(fn)`` with a callable taking no arguments, or its dotted path
``"package.module:function"`` (imported at the first sweep, so building the app stays cheap),
called inside an app context on every sweep (so at most every SWEEP_INTERVAL_SECONDS).
Register it from code that ``create_app()`` runs (the worker builds the app with it); a failing
hook is logged and never stops the others or the sweep.
"""

from __future__ import annotations

import importlib
import logging
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from redis import Redis
from rq.job import Job
from rq.registry import ScheduledJobRegistry
from sqlalchemy import delete, select

from mailer.extensions import atomic, db
from mailer.mail.leases import due_condition
from mailer.mail.outbox import requeue
from mailer.models import IdempotencyKey, Message, Recipient, RecipientStatus

log = logging.getLogger(__name__)

SweepHook = Callable[[], object]
_hooks: list[SweepHook | str] = []

NEXT_KEY = "mailer:sweep:next"
LOCK_KEY = "mailer:sweep:running"
ROWS_PER_SWEEP = 20_000
SCHEDULED_GRACE_SECONDS = 3.0
_WAITING_JOB = {"queued", "scheduled", "deferred"}


def register_sweep_hook(hook: SweepHook | str) -> SweepHook | str:
    """Have every sweep call ``hook()`` (in an app context); ``hook`` may be "module:function".

    Idempotent; usable as a decorator.
    """
    if hook not in _hooks:
        _hooks.append(hook)
    return hook


def sweep_hooks() -> tuple[SweepHook, ...]:
    return tuple(_resolve(hook) for hook in _hooks)


def _resolve(hook: SweepHook | str) -> SweepHook:
    if callable(hook):
        return hook
    module, _, name = hook.partition(":")
    return getattr(importlib.import_module(module), name)


@dataclass
class SweepReport:
    recipients: int = 0
    by_queue: dict[str, int] = field(default_factory=dict)
    hooks_failed: int = 0
    skipped: bool = False


def periodic_sweep_due(redis: Redis, interval: int) -> bool:
    """True for exactly one caller per ``interval`` seconds across every process and host."""
    return bool(redis.set(NEXT_KEY, "1", nx=True, ex=interval))


def sweep(redis: Redis, lease_seconds: int) -> SweepReport:
    """One sweep, unless another is running (then ``skipped``). Needs Redis; raises RedisError without it."""
    token = uuid.uuid4().hex
    if not redis.set(LOCK_KEY, token, nx=True, ex=600):
        return SweepReport(skipped=True)
    try:
        report = _enqueue_orphans(redis, lease_seconds)
        _purge_idempotency_keys()
        report.hooks_failed = _run_hooks()
        return report
    finally:
        if redis.get(LOCK_KEY) == token.encode():
            redis.delete(LOCK_KEY)


def _enqueue_orphans(redis: Redis, lease_seconds: int) -> SweepReport:
    now = datetime.now(UTC)
    rows = db.session.execute(
        select(Recipient.id, Recipient.job_id, Recipient.status, Message.queue)
        .join(Message, Message.id == Recipient.message_id)
        .where(due_condition(now))
        .order_by(Recipient.next_attempt_at, Recipient.created_at)
        .limit(ROWS_PER_SWEEP)
    ).all()
    db.session.rollback()
    states = _job_states(redis, {row.job_id: row.queue for row in rows if row.job_id})
    orphans: dict[str, list[uuid.UUID]] = defaultdict(list)
    for row in rows:
        if not _alive(states.get(row.job_id or ""), row.status, now, lease_seconds):
            orphans[row.queue].append(row.id)
    report = SweepReport()
    for queue, ids in orphans.items():
        requeue(ids, queue, nudge=False)
        report.by_queue[queue] = len(ids)
        report.recipients += len(ids)
    if report.recipients:
        log.info("sweeper enqueued %d recipients", report.recipients, extra={"by_queue": report.by_queue})
    return report


@dataclass(frozen=True)
class _JobState:
    status: str
    started_at: str
    scheduled_for: float | None  # epoch seconds, when RQ holds the job as scheduled


def _job_states(redis: Redis, queue_of: dict[str, str]) -> dict[str, _JobState]:
    ordered = sorted(queue_of)
    with redis.pipeline(transaction=False) as pipe:
        for job_id in ordered:
            pipe.hmget(Job.key_for(job_id), "status", "started_at")
            pipe.zscore(ScheduledJobRegistry.key_template.format(queue_of[job_id]), job_id)
        replies = pipe.execute()
    states = {}
    for index, job_id in enumerate(ordered):
        (status, started), score = replies[2 * index], replies[2 * index + 1]
        if status is not None:
            states[job_id] = _JobState(status.decode(), (started or b"").decode(), score)
    return states


def _alive(state: _JobState | None, row_status: str, now: datetime, lease_seconds: int) -> bool:
    """Whether the row's job will still come for it.

    A row under an expired lease belongs to a job that died or hung: only a job still
    waiting in Redis counts. A waiting row's job also counts while it runs, unless it
    started longer than a lease ago without claiming (its worker died first). A scheduled
    job overdue by more than the grace period counts as none (no live scheduler moves it).
    """
    if state is None:
        return False
    if state.status == "scheduled" and state.scheduled_for is not None:
        return now.timestamp() - state.scheduled_for < SCHEDULED_GRACE_SECONDS
    if state.status in _WAITING_JOB:
        return True
    if state.status != "started" or row_status == RecipientStatus.SENDING:
        return False
    try:
        started = datetime.fromisoformat(state.started_at.replace("Z", "+00:00"))
    except ValueError:
        return False
    if started.tzinfo is None:
        started = started.replace(tzinfo=UTC)
    return now - started < timedelta(seconds=lease_seconds)


def _purge_idempotency_keys() -> None:
    with atomic():
        db.session.execute(delete(IdempotencyKey).where(IdempotencyKey.expires_at < datetime.now(UTC)))


def _run_hooks() -> int:
    failed = 0
    for hook in sweep_hooks():
        try:
            hook()
        except Exception:
            failed += 1
            db.session.rollback()
            log.exception("sweep hook %s failed", getattr(hook, "__qualname__", hook))
    return failed


__all__ = ["SweepReport", "periodic_sweep_due", "register_sweep_hook", "sweep"]
