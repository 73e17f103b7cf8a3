"""Sign-up, resend-verification and forgot-password requests, handed from the web to the worker.

The web side stores an AuthRequest row and enqueues `mailer.worker.jobs.process_auth_request(tenant_id,
request_id)` on the critical queue: ids only, never the address or the password hash. If Redis
is down the row simply stays `pending`; `enqueue_pending_auth_work()` (called by the sweeper)
enqueues it again later.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from flask import has_request_context, request
from redis.exceptions import RedisError
from sqlalchemy import select, update

from mailer.extensions import db
from mailer.models import AuthRequest, AuthRequestKind, AuthRequestStatus, Tenant
from mailer.models.types import utcnow
from mailer.queues import enqueue, get_redis

log = logging.getLogger(__name__)
JOB = "mailer.worker.jobs.process_auth_request"
QUEUE = "critical"
# A request older than this is dropped instead of processed: a sign-up mail a day late helps no one.
PENDING_MAX_AGE = timedelta(hours=24)
# A failed job's exc_info stays in Redis this long (RQ's default is a year): long enough to look into.
FAILURE_TTL_SECONDS = 86400
_COMING = {"queued", "started", "deferred", "scheduled"}  # RQ job states that will still run


def submit_auth_request(
    kind: AuthRequestKind, tenant: Tenant, email: str, *, name: str = "", password_hash: str | None = None,
    locale: str | None = None,
) -> AuthRequest:
    """Commit the request, then try to enqueue it. Never fails because Redis is down."""
    row = AuthRequest(
        tenant_id=tenant.id, kind=kind, email=email, name=name, password_hash=password_hash, locale=locale,
        ip=request.remote_addr if has_request_context() else None,
    )
    db.session.add(row)
    db.session.commit()
    enqueue_auth_request(row)
    return row


def job_id(row: AuthRequest) -> str:
    """One job id per request (L4): the sweep sees whether its job is still coming instead of adding another."""
    return f"auth-{row.id}"


def enqueue_auth_request(row: AuthRequest) -> bool:
    try:
        enqueue(QUEUE, JOB, str(row.tenant_id), str(row.id), failure_ttl=FAILURE_TTL_SECONDS, job_id=job_id(row))
    except RedisError:
        log.warning("enqueue failed; the sweeper will pick the auth request up", extra={"auth_request_id": str(row.id)})
        return False
    return True


def enqueue_pending_auth_work(min_age_seconds: float = 30.0) -> int:
    """For the sweeper: enqueue every auth request still pending after `min_age_seconds` whose job is gone
    (lost with Redis, failed, or finished without claiming): a request whose job still waits or runs gets no
    second one, so a backlog never multiplies jobs (L4). Processing also claims the row with a conditional
    UPDATE, so a duplicate would be harmless anyway. Requests pending longer than PENDING_MAX_AGE are marked
    expired (and their password hash dropped). Returns how many jobs were enqueued; raises RedisError if
    Redis is still down.
    """
    now = utcnow()
    db.session.execute(
        update(AuthRequest)
        .where(AuthRequest.status == AuthRequestStatus.PENDING, AuthRequest.created_at < now - PENDING_MAX_AGE)
        .values(status=AuthRequestStatus.EXPIRED, password_hash=None, processed_at=now)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    rows = db.session.scalars(
        select(AuthRequest)
        .where(AuthRequest.status == AuthRequestStatus.PENDING,
               AuthRequest.created_at <= now - timedelta(seconds=min_age_seconds))
        .order_by(AuthRequest.created_at)
    ).all()
    redis = get_redis()
    with redis.pipeline(transaction=False) as pipe:
        for row in rows:
            pipe.hget(f"rq:job:{job_id(row)}", "status")
        states = pipe.execute()
    orphans = [row for row, state in zip(rows, states, strict=True) if (state or b"").decode() not in _COMING]
    for row in orphans:
        enqueue(QUEUE, JOB, str(row.tenant_id), str(row.id), failure_ttl=FAILURE_TTL_SECONDS, job_id=job_id(row))
    return len(orphans)
