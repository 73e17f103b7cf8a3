"""How a request tells a running delivery loop that its tenant has new mail, instead of a new job.

A delivery loop (mail/delivery_loop.py) marks its tenant ``looping`` (a key with a short TTL it
keeps refreshing) and waits on the tenant's nudge list between claims. The outbox, after its
commit, nudges instead of enqueueing a job while that mark is up. The loop leaves by removing
its mark *then* looking for due rows once more: a row committed before the outbox saw the mark
is found by that last look, and one committed after it saw no mark got a job of its own.
Redis trouble is never fatal here: every caller falls back to a job or to the sweeper.
"""

from __future__ import annotations

import uuid

from redis import Redis

LOOP_KEY = "mailer:loop:{owner}"
NUDGE_KEY = "mailer:nudge:{owner}"
LOOP_MARK_SECONDS = 5
_NUDGES_KEPT = 16


def mark_looping(redis: Redis, owner: uuid.UUID) -> None:
    redis.set(LOOP_KEY.format(owner=owner), "1", ex=LOOP_MARK_SECONDS)


def unmark_looping(redis: Redis, owner: uuid.UUID) -> None:
    redis.delete(LOOP_KEY.format(owner=owner))


def loop_running(redis: Redis, owner: uuid.UUID) -> bool:
    return bool(redis.exists(LOOP_KEY.format(owner=owner)))


def nudge(redis: Redis, owner: uuid.UUID) -> None:
    key = NUDGE_KEY.format(owner=owner)
    with redis.pipeline(transaction=False) as pipe:
        pipe.lpush(key, "1")
        pipe.ltrim(key, 0, _NUDGES_KEPT - 1)
        pipe.expire(key, LOOP_MARK_SECONDS)
        pipe.execute()


def wait_for_nudge(redis: Redis, owner: uuid.UUID, timeout: float) -> bool:
    """Block up to ``timeout`` seconds for a nudge; True when one came (all pending ones are taken)."""
    key = NUDGE_KEY.format(owner=owner)
    if redis.blpop([key], timeout=max(timeout, 0.01)) is None:
        return False
    redis.delete(key)
    return True
