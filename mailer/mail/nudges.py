"""How a request tells a running delivery loop that its tenant has new mail, instead of a new job.

A delivery loop (mail/delivery_loop.py) marks its tenant ``looping`` (a key with a short TTL it
keeps refreshing, naming the loop; another loop of the tenant leaves it be) and waits on the tenant's
nudge list between claims. The outbox, after its
commit, nudges instead of enqueueing a job while that mark is up. The loop leaves by removing
its mark *then* looking for due rows once more: a row committed before the outbox saw the mark
is found by that last look, and one committed after it saw no mark got a job of its own.
Redis trouble is never fatal here: every caller falls back to a job or to the sweeper.
"""

from __future__ import annotations

import uuid

from redis import Redis
from redis.client import Pipeline

LOOP_KEY = "mailer:loop:{owner}"
NUDGE_KEY = "mailer:nudge:{owner}"
LOOP_MARK_SECONDS = 5
_NUDGES_KEPT = 16


# A mark names the loop that set it. A second loop of the same tenant (a critical job's, which often finds its
# row already sent) leaves the first one's mark alone, and removes only its own when it leaves: it used to take
# the running loop's mark down with it, and the next requests made jobs instead of nudges until the loop marked
# again.
_MARK_UNLESS_ANOTHERS = """
local holder = redis.call('get', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('set', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
"""
_NUDGE_IF_MARKED = """
if redis.call('exists', KEYS[1]) == 0 then return 0 end
redis.call('lpush', KEYS[2], '1')
redis.call('ltrim', KEYS[2], 0, ARGV[1])
redis.call('expire', KEYS[2], ARGV[2])
return 1
"""
_UNMARK_OWN = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


def mark_looping(redis: Redis | Pipeline, owner: uuid.UUID, loop_id: str) -> None:
    # EVAL, not a registered script: a pipeline with one asks SCRIPT EXISTS first, a round trip per mark.
    redis.eval(_MARK_UNLESS_ANOTHERS, 1, LOOP_KEY.format(owner=owner), loop_id, LOOP_MARK_SECONDS)


def unmark_looping(redis: Redis, owner: uuid.UUID, loop_id: str) -> None:
    redis.register_script(_UNMARK_OWN)(keys=[LOOP_KEY.format(owner=owner)], args=[loop_id])


def nudge_if_looping(redis: Redis, owner: uuid.UUID) -> bool:
    """Nudge the tenant's loop if its mark is up; whether it was. One round trip: the look and the nudge were
    two, each ~0.1 ms of a request's CPU."""
    return bool(redis.register_script(_NUDGE_IF_MARKED)(
        keys=[LOOP_KEY.format(owner=owner), NUDGE_KEY.format(owner=owner)],
        args=[_NUDGES_KEPT - 1, LOOP_MARK_SECONDS]))


def wait_for_nudge(pipe: Pipeline, owner: uuid.UUID, timeout: float) -> None:
    """Block the pipeline up to ``timeout`` seconds for a nudge (a BLPOP blocks outside MULTI: ``pipe`` must be
    transaction=False), before the commands queued after it; the caller takes the pending ones with take_nudges
    before it next claims."""
    pipe.blpop([NUDGE_KEY.format(owner=owner)], timeout=max(timeout, 0.01))


def take_nudges(redis: Redis | Pipeline, owner: uuid.UUID) -> None:
    """Drop the pending nudges: a claim made after this sees the rows of every nudge dropped (each was pushed
    after its rows were committed)."""
    redis.delete(NUDGE_KEY.format(owner=owner))
