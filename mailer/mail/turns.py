"""Turns on the ``bulk`` lane: a round robin over tenants with due bulk mail, whatever the number of workers.

RQ serves ``bulk`` first come first served, and a delivery loop (mail/delivery_loop.py) keeps claiming its
tenant's due rows for a minute; so one tenant's 100 000-copy broadcast (a thousand jobs) used to hold every
bulk worker until it had drained, and a second tenant's broadcast, queued behind it, waited that long.

Now a tenant whose bulk mail gets jobs while no loop serves it also joins a *waiting line* in Redis (a sorted
set, oldest first). Every loop, at each claim, reports in (one script, in the same round trip as its nudge
mark): it takes its own tenant off the line (it is being served) and counts itself among its tenant's live
loops. When its last claim held bulk rows only (critical and default mail are never made to wait for bulk) and
someone is waiting, it *hands over* — takes the oldest waiting tenant and goes on delivering that one's rows —
if its tenant has another live loop (so no tenant holds more than one loop while others wait) or its own turn
has lasted TURN_SECONDS (so with one worker the tenants alternate). A loop that hands over puts its tenant at
the back of the line when rows of it are still due, and a loop about to leave for want of rows takes the next
waiting tenant instead. A newcomer is served within a claim when loops run, and its rate is one loop's,
however large the other tenants' backlogs.

All of this is a hint for ordering only; rows are still claimed under leases (mail/leases.py), so a tenant
taken by two loops, or a hand-over lost with a killed worker, costs at most a wait: the tenant's RQ jobs are
still queued, and the sweeper enqueues rows whose job is gone. Entries older than LINE_SECONDS lapse.
"""

from __future__ import annotations

import time
import uuid

from redis import Redis
from redis.client import Pipeline

LINE_KEY = "mailer:bulk:line"
LOOPS_KEY = "mailer:loops:{owner}"
TURN_SECONDS = 2.0
LINE_SECONDS = 600

# Take the oldest waiting tenant off the line, after dropping lapsed entries (KEYS[1] the line, ARGV[1] now,
# ARGV[2] LINE_SECONDS); false when nobody waits.
_TAKE_NEXT = """
redis.call('zremrangebyscore', KEYS[1], '-inf', tonumber(ARGV[1]) - tonumber(ARGV[2]))
local next = redis.call('zrange', KEYS[1], 0, 0)[1]
if not next then return false end
redis.call('zrem', KEYS[1], next)
return next
"""
# A loop reporting in: KEYS = (the line, its tenant's loops), ARGV = (now, LINE_SECONDS, owner, loop id,
# seconds the report lasts, "1" when it may hand over, "1" when its turn is over). Returns the tenant to
# serve next, or false to stay.
_REPORT = """
local now = tonumber(ARGV[1])
redis.call('zadd', KEYS[2], now + tonumber(ARGV[5]), ARGV[4])
redis.call('zremrangebyscore', KEYS[2], '-inf', now)
redis.call('expire', KEYS[2], ARGV[5])
redis.call('zrem', KEYS[1], ARGV[3])
if ARGV[6] ~= '1' or (ARGV[7] ~= '1' and redis.call('zcard', KEYS[2]) < 2) then return false end
local function take_next()
""" + _TAKE_NEXT + """
end
local next = take_next()
if next then redis.call('zrem', KEYS[2], ARGV[4]) end
return next
"""


def wait_in_line(redis: Redis, owner: uuid.UUID) -> None:
    """Put the tenant at the back of the line, unless it is in it already (then it keeps its place)."""
    redis.zadd(LINE_KEY, {str(owner): time.time()}, nx=True)
    redis.expire(LINE_KEY, LINE_SECONDS)


def report_in(pipe: Pipeline, owner: uuid.UUID, loop_id: str, seconds: int, *, may_hand_over: bool,
              turn_over: bool) -> None:
    """Queue the loop's report on ``pipe``; its reply is the tenant to hand over to (bytes) or None."""
    # EVAL, not a registered script: a pipeline with one asks SCRIPT EXISTS first, a round trip per report.
    pipe.eval(_REPORT, 2, LINE_KEY, LOOPS_KEY.format(owner=owner),
              time.time(), LINE_SECONDS, str(owner), loop_id, seconds, int(may_hand_over), int(turn_over))


def leave(redis: Redis, owner: uuid.UUID, loop_id: str) -> None:
    """The loop no longer serves the tenant."""
    redis.zrem(LOOPS_KEY.format(owner=owner), loop_id)


def take_next(redis: Redis) -> uuid.UUID | None:
    """The oldest waiting tenant, taken off the line (a loop with nothing left of its own serves it)."""
    return as_owner(redis.register_script(_TAKE_NEXT)(keys=[LINE_KEY], args=[time.time(), LINE_SECONDS]))


def as_owner(reply: object) -> uuid.UUID | None:
    if not reply:
        return None
    return uuid.UUID(reply.decode() if isinstance(reply, bytes) else str(reply))
