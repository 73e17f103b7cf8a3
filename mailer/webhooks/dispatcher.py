"""The webhook dispatcher: one bounded job that drains due deliveries, and how it is woken.

Why it never delays mail (API.md §9): it is one job at a time (a Redis lock), on the `bulk` queue
(the lowest; RQ always takes `critical` and `default` first), and it holds its worker briefly: claims
of at most ROUND_SIZE deliveries, none after RUN_SECONDS, every POST bounded as a whole by
WEBHOOK_TIMEOUT_SECONDS. Why one tenant never delays another: see rounds (a lane cap per tenant,
claims whenever a lane is free, results written per endpoint).
While it runs it watches the mail queues; as soon as a mail job waits, it
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
from datetime import UTC, datetime

from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy.orm import Session

from mailer.config import Config
from mailer.webhooks.bounds import CONNECTIONS_PER_ENDPOINT, RUN_SECONDS, THREADS, key_ttl
from mailer.webhooks.claims import count_due, next_due_at
from mailer.webhooks.rounds import POLL_SECONDS, Scheduler
from mailer.webhooks.transport import Pools
from mailer.webhooks.wakeup import LOCK_KEY, QUEUED_KEY, mail_waiting, nudge, schedule

log = logging.getLogger(__name__)

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
    lanes = Scheduler(session, config, pools, executor, THREADS)
    started = time.monotonic()
    try:
        while True:
            claimed = lanes.fill() if time.monotonic() - started < run_seconds else 0
            report.rounds += bool(claimed)
            if not lanes.lanes and not claimed:
                break
            lanes.collect(POLL_SECONDS)
            keeper.touch()
            if yield_now():  # mail waits: no new POST starts, those in flight are let go
                lanes.abandon()
                report.yielded = True
                break
    finally:
        report.attempted, report.succeeded = lanes.outcome.attempted, lanes.outcome.succeeded
        # POSTs abandoned by a yield may still be running (each within its deadline): do not wait for them.
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
