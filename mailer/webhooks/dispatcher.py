"""The webhook dispatcher: one bounded job that drains due deliveries, and how it is woken.

Why it never delays mail (API.md §9): it is one job at a time (a Redis lock), on the `bulk` queue
(the lowest; RQ always takes `critical` and `default` first), and it holds its worker briefly: rounds
of at most ROUND_SIZE deliveries, a run of at most RUN_SECONDS, every POST bounded by
WEBHOOK_TIMEOUT_SECONDS. While it runs it watches the mail queues; as soon as a mail job waits, it
stops starting POSTs, abandons those in flight (their leases run out, they are tried again later,
same `webhook-id`) and ends, re-enqueuing itself behind that mail. A dead or hanging endpoint costs
one probe per lane per backoff step: after a timeout, connection error, 429 or 5xx the endpoint
backs off (WEBHOOK_RETRY_DELAYS by its failure streak) and its other deliveries wait untouched.
Connections are bounded per endpoint (CONNECTIONS_PER_ENDPOINT) and in all (THREADS).

Wake-ups: committing an event nudges (one queued job at most, a Redis key); a run that leaves work
due re-enqueues itself, one that leaves only future work schedules itself at that time (RQ's
scheduler, `--with-scheduler`); the periodic sweep nudges whenever deliveries are due, so a lost
nudge, a Redis flush or a killed worker delays a delivery by at most SWEEP_INTERVAL_SECONDS.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from mailer.api import iso
from mailer.config import Config
from mailer.models.webhook import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent
from mailer.queues import QUEUE_NAMES, get_queue
from mailer.security.secret_box import secret_box
from mailer.webhooks.claims import claim_due, count_due, next_due_at
from mailer.webhooks.guard import UnsafeUrlError, check_url
from mailer.webhooks.signing import signed_headers
from mailer.webhooks.transport import Pools, PostResult, post

log = logging.getLogger(__name__)

QUEUE = "bulk"
DISPATCH_JOB = "mailer.webhooks.jobs.dispatch_webhooks"
QUEUED_KEY = "mailer:webhooks:queued"
SCHEDULED_KEY = "mailer:webhooks:scheduled"
LOCK_KEY = "mailer:webhooks:running"
ROUND_SIZE = 500
ROUND_SECONDS = 5.0
RUN_SECONDS = 30.0
THREADS = 16
CONNECTIONS_PER_ENDPOINT = 4
POLL_SECONDS = 0.2
_MAX_TEXT = 500


def lease_seconds(config: Config) -> float:
    """Longer than one round can hold a delivery (the round, one POST, the bookkeeping)."""
    return ROUND_SECONDS + 2 * config.WEBHOOK_TIMEOUT_SECONDS + 5


def key_ttl(config: Config) -> int:
    """How long the lock and the queued marker outlive a dispatcher killed mid-run (a run refreshes them)."""
    return int(lease_seconds(config) + 5)


def job_timeout(config: Config) -> int:
    """Longer than a whole run: RUN_SECONDS, then one round and its POSTs."""
    return int(RUN_SECONDS + lease_seconds(config) + 30)


class _Keeper:
    """Refreshes the run's Redis keys while it works, so that only a dead run lets them lapse."""

    def __init__(self, redis: Redis, config: Config) -> None:
        self.redis, self.ttl, self.last = redis, key_ttl(config), time.monotonic()

    def touch(self) -> None:
        if time.monotonic() - self.last < 1:
            return
        self.last = time.monotonic()
        try:
            with self.redis.pipeline(transaction=False) as pipe:
                pipe.expire(LOCK_KEY, self.ttl)
                pipe.expire(QUEUED_KEY, self.ttl)
                pipe.execute()
        except RedisError:
            log.warning("could not refresh the webhook dispatcher's lock")


# -- waking the dispatcher -------------------------------------------------------------------------

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
    """A run at ``at`` (one scheduled at a time; an earlier nudge runs sooner anyway)."""
    seconds = max(1.0, (at - datetime.now(UTC)).total_seconds())
    try:
        if redis.set(SCHEDULED_KEY, "1", nx=True, px=int(seconds * 1000)):
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


# -- one run ---------------------------------------------------------------------------------------

@dataclass
class RunReport:
    skipped: bool = False
    rounds: int = 0
    attempted: int = 0
    succeeded: int = 0
    yielded: bool = False


def run(session: Session, redis: Redis, config: Config, *, should_yield: Callable[[], bool] | None = None,
        run_seconds: float = RUN_SECONDS) -> RunReport:
    """One dispatcher run (the job's body), unless another holds the lock."""
    token = uuid.uuid4().hex
    if not redis.set(LOCK_KEY, token, nx=True, ex=key_ttl(config)):
        return RunReport(skipped=True)
    report = RunReport()
    keeper = _Keeper(redis, config)
    yield_now = should_yield or (lambda: mail_waiting(redis))
    pools = Pools(CONNECTIONS_PER_ENDPOINT)
    executor = ThreadPoolExecutor(THREADS, thread_name_prefix="webhook")
    started = time.monotonic()
    try:
        while time.monotonic() - started < run_seconds:
            outcome = run_round(session, config, pools, executor, yield_now, keeper.touch)
            report.rounds += 1
            report.attempted += outcome.attempted
            report.succeeded += outcome.succeeded
            if outcome.yielded:
                report.yielded = True
                break
            if not outcome.claimed:
                break
    finally:
        # Abandoned POSTs (after a yield) may still be running: do not wait for them.
        executor.shutdown(wait=not report.yielded, cancel_futures=True)
        pools.close()
        if redis.get(LOCK_KEY) == token.encode():
            redis.delete(LOCK_KEY)
        redis.delete(QUEUED_KEY)
        _follow_up(session, redis, config)
    return report


def _follow_up(session: Session, redis: Redis, config: Config) -> None:
    now = datetime.now(UTC)
    try:
        if count_due(session, now):
            nudge(redis, config)
        else:
            at = next_due_at(session, now)
            if at is not None:
                schedule(redis, config, at)
    finally:
        session.rollback()


# -- one round -------------------------------------------------------------------------------------

@dataclass
class _Item:
    delivery_id: uuid.UUID
    webhook_id: str
    body: str
    schedule_attempts: int  # attempts already made in the current schedule
    result: PostResult | None = None
    attempted_at: datetime | None = None


@dataclass
class _Group:
    """One endpoint's share of a round."""

    endpoint_id: uuid.UUID
    url: str
    secrets: list[str]
    items: list[_Item] = field(default_factory=list)
    tripped: threading.Event = field(default_factory=threading.Event)
    gone: bool = False


@dataclass
class RoundOutcome:
    claimed: int = 0
    attempted: int = 0
    succeeded: int = 0
    yielded: bool = False


def run_round(session: Session, config: Config, pools: Pools, executor: ThreadPoolExecutor,
              should_yield: Callable[[], bool], on_poll: Callable[[], None] = lambda: None) -> RoundOutcome:
    now = datetime.now(UTC)
    token, ids = claim_due(session, now, ROUND_SIZE, lease_seconds(config))
    outcome = RoundOutcome(claimed=len(ids))
    if not ids:
        return outcome
    groups = _load(session, config, ids, now)
    stop = threading.Event()
    deadline = time.monotonic() + ROUND_SECONDS
    futures = [
        executor.submit(_lane, group, group.items[lane::CONNECTIONS_PER_ENDPOINT], config, pools, stop, deadline)
        for group in groups for lane in range(min(CONNECTIONS_PER_ENDPOINT, len(group.items)))
    ]
    pending = set(futures)
    while pending:
        done, pending = wait(pending, timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
        for future in done:
            future.result()  # a bug in a lane is a bug: let the job fail loudly
        on_poll()
        if pending and should_yield():
            stop.set()
            outcome.yielded = True
            break
    _record(session, config, token, groups)
    items = [item for group in groups for item in group.items if item.result is not None]
    outcome.attempted = len(items)
    outcome.succeeded = sum(item.result.succeeded for item in items if item.result is not None)
    return outcome


def _load(session: Session, config: Config, ids: list[uuid.UUID], now: datetime) -> list[_Group]:
    rows = session.execute(
        select(WebhookDelivery.id, WebhookDelivery.endpoint_id, WebhookDelivery.attempts,
               WebhookDelivery.replayed_after, WebhookEvent.id.label("event_id"), WebhookEvent.type,
               WebhookEvent.created_at, WebhookEvent.data)
        .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
        .where(WebhookDelivery.id.in_(ids))
    ).all()
    endpoints = {e.id: e for e in session.scalars(
        select(WebhookEndpoint).where(WebhookEndpoint.id.in_({row.endpoint_id for row in rows}))
    )}
    box = secret_box(config.SECRETS_KEY)
    groups: dict[uuid.UUID, _Group] = {}
    for row in rows:
        group = groups.get(row.endpoint_id)
        if group is None:
            endpoint = endpoints[row.endpoint_id]
            secrets = [box.open(endpoint.secret_sealed)]
            if endpoint.previous_secret_sealed and (endpoint.previous_secret_expires_at or now) > now:
                secrets.append(box.open(endpoint.previous_secret_sealed))
            group = groups[row.endpoint_id] = _Group(endpoint.id, endpoint.url, secrets)
        body = json.dumps({"type": row.type, "timestamp": iso(row.created_at), "data": row.data},
                          separators=(",", ":"), ensure_ascii=False)
        group.items.append(_Item(row.id, str(row.event_id), body, row.attempts - row.replayed_after))
    session.commit()
    return list(groups.values())


def _lane(group: _Group, items: list[_Item], config: Config, pools: Pools, stop: threading.Event,
          deadline: float) -> None:
    """POST these items in turn, until the round ends, the run yields, or the endpoint fails."""
    target = None
    for item in items:
        if stop.is_set() or group.tripped.is_set() or group.gone or time.monotonic() > deadline:
            return
        item.attempted_at = datetime.now(UTC)
        if target is None:
            try:
                target = check_url(group.url, config)  # again at delivery: DNS may have changed
            except UnsafeUrlError as exc:
                item.result = PostResult(None, 0, f"refused: {exc}")
                group.tripped.set()
                return
        headers = signed_headers(group.secrets, item.webhook_id, item.attempted_at, item.body)
        item.result = post(pools, target, headers, item.body.encode("utf-8"), config.WEBHOOK_TIMEOUT_SECONDS)
        code = item.result.status_code
        if code == 410:
            group.gone = True
        elif code is None or code == 429 or code >= 500:
            group.tripped.set()


def _delay(config: Config, attempts: int) -> float:
    delays = config.WEBHOOK_RETRY_DELAYS
    base = delays[min(max(attempts, 1), len(delays)) - 1]
    return base + random.uniform(0, base * 0.1)


def _record(session: Session, config: Config, token: str, groups: list[_Group]) -> None:
    """Write every attempt, move each delivery on, release what was not tried, back off endpoints."""
    now = datetime.now(UTC)
    updates: list[dict[str, Any]] = []
    attempts: list[dict[str, Any]] = []
    releases: list[dict[str, Any]] = []
    tenant_of = dict(session.execute(
        select(WebhookEndpoint.id, WebhookEndpoint.tenant_id)
        .where(WebhookEndpoint.id.in_([g.endpoint_id for g in groups]))
    ).all())
    blocked: dict[uuid.UUID, datetime] = {}
    streaks = dict(session.execute(
        select(WebhookEndpoint.id, WebhookEndpoint.failure_streak)
        .where(WebhookEndpoint.id.in_([g.endpoint_id for g in groups]))
    ).all())
    for group in groups:
        if group.tripped.is_set():
            blocked[group.endpoint_id] = now + timedelta(seconds=_delay(config, streaks[group.endpoint_id] + 1))
    for group in groups:
        for item in group.items:
            result = item.result
            if result is None and item.attempted_at is not None:
                continue  # abandoned in flight (a yield): its lease runs out, then it is tried again
            if result is None:
                releases.append({"b_id": item.delivery_id,
                                 "b_next": blocked.get(group.endpoint_id, now) if group.tripped.is_set() else None})
                continue
            attempts.append({"id": uuid.uuid4(), "delivery_id": item.delivery_id,
                             "tenant_id": tenant_of[group.endpoint_id], "at": item.attempted_at,
                             "status_code": result.status_code,
                             "latency_ms": result.latency_ms, "error": (result.error or "")[:_MAX_TEXT] or None})
            made = item.schedule_attempts + 1
            status, next_at, finished = DeliveryStatus.PENDING.value, None, None
            if result.succeeded:
                status, finished = DeliveryStatus.SUCCEEDED.value, now
            elif result.status_code == 410 or made > len(config.WEBHOOK_RETRY_DELAYS):
                status, finished = DeliveryStatus.FAILED.value, now
            else:
                next_at = now + timedelta(seconds=_delay(config, made))
            updates.append({"b_id": item.delivery_id, "b_status": status, "b_code": result.status_code,
                            "b_error": (result.error or "")[:_MAX_TEXT] or None, "b_next": next_at,
                            "b_finished": finished})
    _write(session, token, updates, attempts, releases)
    _write_endpoints(session, groups, blocked, streaks)
    session.commit()


def _write(session: Session, token: str, updates: list[dict[str, Any]], attempts: list[dict[str, Any]],
           releases: list[dict[str, Any]]) -> None:
    table = WebhookDelivery.__table__
    mine = (table.c.id == bindparam("b_id"), table.c.claim_token == token)
    if updates:
        session.execute(
            update(table).where(*mine).values(
                status=bindparam("b_status"), attempts=table.c.attempts + 1, last_status_code=bindparam("b_code"),
                last_error=bindparam("b_error"), next_attempt_at=bindparam("b_next"),
                finished_at=bindparam("b_finished"), lease_until=None, claim_token=None,
            ),
            updates,
        )
    if attempts:
        session.execute(insert(WebhookAttempt), attempts)
    later = [r for r in releases if r["b_next"] is not None]
    now_ = [r for r in releases if r["b_next"] is None]
    if later:
        session.execute(update(table).where(*mine).values(next_attempt_at=bindparam("b_next"), lease_until=None,
                                                          claim_token=None), later)
    if now_:
        session.execute(update(table).where(*mine).values(lease_until=None, claim_token=None), now_)


def _write_endpoints(session: Session, groups: list[_Group], blocked: dict[uuid.UUID, datetime],
                     streaks: dict[uuid.UUID, int]) -> None:
    for group in groups:
        changes: dict[str, Any] = {}
        if group.gone:
            changes.update(enabled=False, disabled_reason="the endpoint answered 410 Gone")
            log.info("webhook endpoint disabled after 410", extra={"endpoint_id": str(group.endpoint_id)})
        if group.endpoint_id in blocked:
            changes.update(failure_streak=streaks[group.endpoint_id] + 1, blocked_until=blocked[group.endpoint_id])
        elif streaks[group.endpoint_id] and any(i.result is not None and i.result.succeeded for i in group.items):
            changes.update(failure_streak=0, blocked_until=None)
        if changes:
            session.execute(update(WebhookEndpoint).where(WebhookEndpoint.id == group.endpoint_id).values(**changes)
                            .execution_options(synchronize_session=False))


__all__ = ["RunReport", "nudge", "run", "sweep_deliveries"]
