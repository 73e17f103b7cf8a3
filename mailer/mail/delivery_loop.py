"""A delivery job that keeps going: after its own recipients, whatever comes due for their server, and
other tenants' bulk mail when their turn comes (mail/turns.py: a round robin over tenants waiting for a worker).

Real traffic is one message per request. Forking a work horse, building the app and opening an
SMTP session per message would cost far more than the message; so a delivery job, once it has
paid for all that, keeps claiming its tenant's due rows (critical first) while they keep coming,
over the same pooled connection, and leaves after ``LINGER_SECONDS`` without any. While it runs,
requests nudge it instead of enqueueing jobs (mail/nudges.py). It also stops at
``MAX_LOOP_SECONDS`` (well inside the job timeout), when asked to stop (SIGTERM) and when its
worker is gone (a work horse whose parent was killed), and it ends every SMTP session with QUIT.

A retry job RQ wakes early (its clock has whole seconds) waits for its rows here, and rows not
due before the loop ends are rescheduled at their time, never dropped.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from flask import current_app
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import select

from mailer.config import Config
from mailer.extensions import db
from mailer.mail import nudges, turns
from mailer.mail.delivery import deliver_claim, smtp_sender
from mailer.mail.leases import claim_due_for_owner, claim_recipients, next_due_in
from mailer.mail.outbox import requeue
from mailer.mail.recording import Deferral
from mailer.models import WAITING, Message, Recipient
from mailer.observability import metrics
from mailer.queues import delete_removed, remove_waiting

log = logging.getLogger(__name__)

LINGER_SECONDS = 2.0
MAX_LOOP_SECONDS = 60.0
POLL_SECONDS = 0.25
# Rows per claim inside the loop: as many as the connection sends in LOOP_CLAIM_SECONDS (at least
# LOOP_CLAIM_ROWS, at most DELIVERY_BATCH_SIZE), so critical mail arriving meanwhile waits about that
# long whatever the server's pace, and a fast server pays the claim, load and roll-up per 100 rows, not 20.
LOOP_CLAIM_ROWS = 20
LOOP_CLAIM_SECONDS = 0.2
# How often a loop looks for rows whose lease ran out (a lease lasts minutes; the claims in between skip
# that query, one of a claim's three statements when mail comes one message at a time).
EXPIRED_LOOK_SECONDS = 1.0


def deliver_and_keep_going(recipient_ids: Sequence[uuid.UUID], job_id: str | None = None,
                           should_stop: Callable[[], bool] = lambda: False) -> None:
    """Deliver these recipients when due, then keep delivering their tenants' due mail while it comes, and
    other tenants' as their turn on the bulk lane comes (mail/turns.py)."""
    config: Config = current_app.config["MAILER"]
    owners = _owners(recipient_ids)
    deadline = time.monotonic() + MAX_LOOP_SECONDS
    with metrics.deferred_writes():  # each claim's metrics go with the loop's mark after it: one round trip
        try:
            claim = claim_recipients(recipient_ids, config.DELIVERY_LEASE_SECONDS, commit=False)
            deliver_claim(claim, config)
            for owner in owners:
                serving: uuid.UUID | None = owner
                linger = bool(claim.ids)
                while serving is not None:
                    serving = _keep_delivering(serving, config, should_stop, deadline, linger=linger, own_job=job_id)
                    linger = False  # a tenant taken from the line with nothing due (its own job came first): next
        finally:
            _reschedule_early(recipient_ids, job_id)
            smtp_sender().close()  # QUIT: a work horse's sessions die with it otherwise


def _keep_delivering(owner: uuid.UUID, config: Config, should_stop: Callable[[], bool], deadline: float, *,
                     linger: bool, own_job: str | None) -> uuid.UUID | None:
    """Claim and send the tenant's due rows until none has come for LINGER_SECONDS (at once: ``linger``
    false, a job that found its work taken), except for rows about to come due (an early retry). Returns the
    tenant whose turn on the bulk lane this loop takes next, if any."""
    redis = current_app.extensions["redis"]
    started = time.monotonic()
    idle_since = started if linger else started - LINGER_SECONDS
    parent = os.getppid()
    loop_id = uuid.uuid4().hex
    rows = min(LOOP_CLAIM_ROWS, config.DELIVERY_BATCH_SIZE)
    looked_for_expired = started - EXPIRED_LOOK_SECONDS
    _mark(redis, owner, loop_id)
    try:
        while not should_stop() and time.monotonic() < deadline and os.getppid() == parent:
            look = time.monotonic() - looked_for_expired >= EXPIRED_LOOK_SECONDS
            looked_for_expired = time.monotonic() if look else looked_for_expired
            claim = claim_due_for_owner(owner, rows, config.DELIVERY_LEASE_SECONDS, expired=look, commit=False)
            if claim.ids:
                began = time.monotonic()
                deliver_claim(claim, config)
                idle_since = time.monotonic()
                asked, rows = rows, claim_rows(len(claim.ids), idle_since - began, config.DELIVERY_BATCH_SIZE)
                # All that was due is sent when the claim took fewer than asked; what came since has nudged (a
                # pending nudge returns at once). Claiming again right away would mostly find nothing, at a claim
                # and a look-ahead per mail.
                wait = POLL_SECONDS if len(claim.ids) < asked else 0.0
                handed_to = _mark(redis, owner, loop_id, discard=claim.job_ids - {own_job or ""}, wait=wait,
                                  may_hand_over=claim.bulk_only,
                                  turn_over=time.monotonic() + wait - started >= turns.TURN_SECONDS)
                if handed_to is not None:
                    return _hand_over(redis, owner, loop_id, handed_to)
                continue
            soon = next_due_in(owner, LINGER_SECONDS)
            if soon is None and time.monotonic() - idle_since >= LINGER_SECONDS:
                _unmark(redis, owner, loop_id)
                if next_due_in(owner, 0) is None:
                    # nothing was committed before the mark went: any later row has its own job
                    return _take_next(redis)
                _mark(redis, owner, loop_id)
                continue
            # Lingering for the tenant's next mail while another tenant waits for a worker: hand over.
            handed_to = _mark(redis, owner, loop_id, wait=min(POLL_SECONDS, soon) if soon is not None else POLL_SECONDS,
                              may_hand_over=soon is None, turn_over=True)
            if handed_to is not None:
                return _hand_over(redis, owner, loop_id, handed_to)
    finally:
        _leave(redis, owner, loop_id)
    return None


def _hand_over(redis: Redis, owner: uuid.UUID, loop_id: str, to: uuid.UUID) -> uuid.UUID:
    """Leave the tenant for ``to``; the tenant goes to the back of the line while rows of it are due (they
    keep their jobs or were nudged to this loop, whose mark is gone: the line is how a loop comes back)."""
    _leave(redis, owner, loop_id)
    if next_due_in(owner, 0) is not None:
        _wait_in_line(redis, owner)
    return to


def claim_rows(delivered: int, seconds: float, batch_size: int) -> int:
    """Rows for the next claim: what this pace sends in LOOP_CLAIM_SECONDS, within [LOOP_CLAIM_ROWS, batch_size]."""
    floor = min(LOOP_CLAIM_ROWS, batch_size)
    if delivered <= 0 or seconds <= 0:
        return floor
    return max(floor, min(batch_size, int(LOOP_CLAIM_SECONDS * delivered / seconds)))


def _owners(recipient_ids: Sequence[uuid.UUID]) -> list[uuid.UUID]:
    owners = list(db.session.scalars(
        select(Recipient.tenant_id).where(Recipient.id.in_(list(recipient_ids))).distinct()
    ))
    db.session.rollback()
    return owners


def _reschedule_early(recipient_ids: Sequence[uuid.UUID], job_id: str | None) -> None:
    """Rows this job was for that it leaves waiting (it woke early, or stopped first) get a job again: at their
    time if still ahead, now if they came due meanwhile (between the loop's last look and this one, a row
    left to no job would wait for the sweeper)."""
    if job_id is None:
        return
    rows = db.session.execute(
        select(Recipient.id, Recipient.next_attempt_at, Message.queue)
        .join(Message, Message.id == Recipient.message_id)
        .where(Recipient.id.in_(list(recipient_ids)), Recipient.job_id == job_id, Recipient.status.in_(WAITING))
    ).all()
    db.session.rollback()
    now = datetime.now(UTC)
    later: dict[str, list[Deferral]] = {}
    due: dict[str, list[uuid.UUID]] = {}
    for row in rows:
        if row.next_attempt_at is not None and row.next_attempt_at > now:  # UTCDateTime: always aware
            later.setdefault(row.queue, []).append(Deferral(row.id, row.next_attempt_at))
        else:
            due.setdefault(row.queue, []).append(row.id)
    for queue, deferrals in later.items():
        log.info("retry woke before its rows were due; rescheduled", extra={"recipients": len(deferrals)})
        requeue(deferrals, queue)
    for queue, ids in due.items():
        log.info("rows came due as the job ended; enqueued again", extra={"recipients": len(ids)})
        requeue(ids, queue)


def _mark(redis: Redis, owner: uuid.UUID, loop_id: str, *, discard: frozenset[str] = frozenset(), wait: float = 0.0,
          may_hand_over: bool = False, turn_over: bool = False) -> uuid.UUID | None:
    """Take the jobs ``discard`` off their queues, wait up to ``wait`` seconds for a nudge, mark the loop for nudges
    and report in on the bulk lane: one round trip (those were three per claim when mail comes one message at a
    time); the tenant to hand over to."""
    jobs = sorted(discard)
    try:
        with redis.pipeline(transaction=False) as pipe:
            # The jobs of rows this loop took would only fork a work horse to find nothing. Taken off after the
            # claim's delivery, not before it, to share this round trip: most are jobs a nudge replaced, never
            # enqueued (the outbox names a row's job before it knows whether a loop runs).
            removals = remove_waiting(pipe, jobs)
            if wait > 0:
                nudges.wait_for_nudge(pipe, owner, wait)
            metrics.write_deferred(pipe)
            nudges.take_nudges(pipe, owner)  # those the wait left: the loop claims after this
            nudges.mark_looping(pipe, owner, loop_id)
            turns.report_in(pipe, owner, loop_id, nudges.LOOP_MARK_SECONDS, may_hand_over=may_hand_over,
                            turn_over=turn_over)
            replies = pipe.execute()
    except RedisError:
        log.debug("could not mark the delivery loop; requests enqueue jobs instead")
        time.sleep(wait)  # without Redis, a poll
        return None
    try:
        delete_removed(redis, jobs, replies[:removals])
    except RedisError:  # the mark is made and the wait is over: only the removed jobs' hashes stay behind, unqueued
        log.debug("could not delete the jobs taken off their queues")
    return turns.as_owner(replies[-1])


def _unmark(redis: Redis, owner: uuid.UUID, loop_id: str) -> None:
    try:
        nudges.unmark_looping(redis, owner, loop_id)
    except RedisError:
        log.debug("could not unmark the delivery loop; the mark lapses by itself")


def _leave(redis: Redis, owner: uuid.UUID, loop_id: str) -> None:
    _unmark(redis, owner, loop_id)
    try:
        turns.leave(redis, owner, loop_id)
    except RedisError:
        log.debug("could not leave the tenant's loops; the entry lapses by itself")


def _wait_in_line(redis: Redis, owner: uuid.UUID) -> None:
    try:
        turns.wait_in_line(redis, owner)
    except RedisError:
        log.debug("could not put the tenant in line; its queued jobs and the sweeper still reach its rows")


def _take_next(redis: Redis) -> uuid.UUID | None:
    try:
        return turns.take_next(redis)
    except RedisError:
        return None

