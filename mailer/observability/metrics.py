"""Counters that happen in any process (web or worker), mirrored in Redis.

Web processes (gunicorn workers) and RQ workers (a forked horse per job) all count into the
same Redis hashes under ``mailer:metrics:*`` with HINCRBY; `/metrics` reads them at scrape
time (mailer.observability.exporter). That keeps every counter process-independent and monotonic
without prometheus-client's multiprocess directory. Counting never fails the caller: with
Redis down an increment is dropped.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from flask import has_app_context
from redis.exceptions import RedisError

from mailer.queues import get_redis

log = logging.getLogger(__name__)

PREFIX = "mailer:metrics:"
ATTEMPTS = PREFIX + "smtp_attempts"  # field "<outcome>|<reply class>"
LATENCY = PREFIX + "smtp_latency"  # fields: one per bucket bound (non-cumulative), "sum", "count"
POOL = PREFIX + "smtp_pool"  # fields "opened", "reused", "discarded"
RATE_LIMITED = PREFIX + "rate_limited"  # field: the scope (endpoint) refused
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
POOL_EVENTS = ("opened", "reused", "discarded")

_pool_seen: dict[str, int] = {}
# Counter writes held for the caller's next Redis pipeline (deferred_writes), when one is open.
_deferred: ContextVar[list[Callable[[Any], None]] | None] = ContextVar("deferred_metric_writes", default=None)


def reply_class(smtp_code: int | None) -> str:
    """250 → "2xx", 451 → "4xx", no reply at all (refused, timeout) → "none"."""
    if smtp_code is None or not 100 <= smtp_code <= 599:
        return "none"
    return f"{smtp_code // 100}xx"


def latency_bucket(seconds: float) -> str:
    for bound in LATENCY_BUCKETS:
        if seconds <= bound:
            return str(bound)
    return "+Inf"


def observe_attempts(attempts: Sequence[tuple[str, int | None]], seconds: float | Sequence[float | None] | None = None,
                     pool: Any = None) -> None:
    """Count recipients' SMTP attempts, each (outcome, smtp_code), in one Redis round trip.

    ``seconds`` is the SMTP transaction that carried them: one figure for all, or one per attempt.
    ``pool``: an SMTP handler whose connection-pool counts are mirrored in the same round trip.
    """
    if not attempts:
        observe_pool(pool)
        return
    counts = Counter(f"{outcome}|{reply_class(code)}" for outcome, code in attempts)
    each = [seconds] * len(attempts) if seconds is None or isinstance(seconds, int | float) else seconds
    timed = [float(s) for s in each if s is not None]
    buckets = Counter(latency_bucket(s) for s in timed)
    pool_stats, pool_deltas = _pool_deltas(pool)

    def write(pipe: Any) -> None:
        for field, count in counts.items():
            pipe.hincrby(ATTEMPTS, field, count)
        if timed:
            for bucket, count in buckets.items():
                pipe.hincrby(LATENCY, bucket, count)
            pipe.hincrbyfloat(LATENCY, "sum", sum(timed))
            pipe.hincrby(LATENCY, "count", len(timed))
        for name, delta in pool_deltas.items():
            pipe.hincrby(POOL, name, delta)

    if write_counters(write) and pool_deltas:
        _pool_seen.update(pool_stats)  # deferred: counted as written, so the next deltas do not repeat these


def observe_rate_limited(scope: str) -> None:
    """Count one request refused by a rate limit or quota (``scope``: what was limited)."""
    write_counters(lambda pipe: pipe.hincrby(RATE_LIMITED, scope, 1))


def observe_pool(handler: Any) -> None:
    """Mirror the SMTP connection pool's counts (opened/reused/discarded) into Redis.

    Reads ``handler.stats()`` or ``handler.pool.stats()`` when the handler offers one (a mapping
    or an object with those attributes) and adds what grew since this process last looked.
    """
    stats, deltas = _pool_deltas(handler)
    if not deltas:
        return

    def write(pipe: Any) -> None:
        for name, delta in deltas.items():
            pipe.hincrby(POOL, name, delta)

    if write_counters(write):
        _pool_seen.update(stats)


def _pool_deltas(handler: Any) -> tuple[dict[str, int], dict[str, int]]:
    """(the pool's counts now, what grew since this process last mirrored them)."""
    if handler is None:
        return {}, {}
    stats = _pool_stats(handler)
    deltas = {name: value - _pool_seen.get(name, 0) for name, value in stats.items()}
    return stats, {name: delta for name, delta in deltas.items() if delta > 0}


def _pool_stats(handler: Any) -> dict[str, int]:
    source = getattr(handler, "stats", None) or getattr(getattr(handler, "pool", None), "stats", None)
    try:
        raw = source() if callable(source) else None
    except Exception:  # a broken stats() must not break delivery
        log.debug("pool stats unavailable", exc_info=True)
        return {}
    if raw is None:
        return {}
    values = raw if isinstance(raw, Mapping) else {name: getattr(raw, name, None) for name in POOL_EVENTS}
    return {name: int(values[name]) for name in POOL_EVENTS if isinstance(values.get(name), int)}


@contextmanager
def deferred_writes() -> Iterator[None]:
    """Counter writes made inside the block wait for the caller's next Redis round trip (write_deferred adds
    them to its pipeline; a delivery loop's mark after every claim) instead of one each; what is left goes
    in one round trip when the block ends."""
    writes: list[Callable[[Any], None]] = []
    token = _deferred.set(writes)
    try:
        yield
    finally:
        _deferred.reset(token)
        if writes:
            write_counters(lambda pipe: _apply(writes, pipe))


def write_deferred(pipe: Any) -> None:
    """Add the counter writes deferred so far (deferred_writes) to ``pipe``, whose caller executes it."""
    writes = _deferred.get()
    if writes:
        _apply(writes, pipe)


def _apply(writes: list[Callable[[Any], None]], pipe: Any) -> None:
    for write in writes:
        write(pipe)
    writes.clear()


def write_counters(write: Any) -> bool:
    """Run ``write(pipe)`` on one Redis pipeline of counter writes (inside deferred_writes: later, with another
    round trip); False (never raised) without an app or Redis."""
    if not has_app_context():
        return False
    writes = _deferred.get()
    if writes is not None:
        writes.append(write)
        return True
    try:
        pipe = get_redis().pipeline(transaction=False)
        write(pipe)
        pipe.execute()
    except RedisError:
        log.debug("metrics not recorded: Redis unavailable")
        return False
    return True
