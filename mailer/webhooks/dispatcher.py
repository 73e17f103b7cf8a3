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

import logging
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy.orm import Session

from mailer.config import Config
from mailer.queues import QUEUE_NAMES, get_queue
from mailer.webhooks.claims import count_due, next_due_at
from mailer.webhooks.rounds import CONNECTIONS_PER_ENDPOINT, lease_seconds, run_round
from mailer.webhooks.transport import Pools

log = logging.getLogger(__name__)

QUEUE = "bulk"
DISPATCH_JOB = "mailer.webhooks.jobs.dispatch_webhooks"
QUEUED_KEY = "mailer:webhooks:queued"
SCHEDULED_KEY = "mailer:webhooks:scheduled"
LOCK_KEY = "mailer:webhooks:running"
RUN_SECONDS = 30.0
THREADS = 16


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


__all__ = ["CONNECTIONS_PER_ENDPOINT", "RunReport", "nudge", "run", "sweep_deliveries"]
