"""Rate-limit headers from the hit itself: the fixed-window strategy flask-limiter uses, on Redis, with
the counter's value and time to live returned by the one script that increments it.

flask-limiter's headers (X-RateLimit-Remaining, -Reset) ask the storage again after the view (a GET
and a TTL: two more Redis round trips, ~0.5 ms of a request). The values of the request's own hit are
what those headers describe, so the hit remembers them for the request and the header step reads them
once. Anything else (the in-memory fallback, a stats query with no hit before it) asks the storage.
"""

from __future__ import annotations

import time

from flask import g, has_app_context
from limits import RateLimitItem
from limits.storage import RedisStorage
from limits.strategies import FixedWindowRateLimiter
from limits.util import WindowStats

# INCRBY, EXPIRE on the window's first hit (as limits' own incr_expire.lua), and the key's PTTL.
_INCR_EXPIRE_TTL = """
local current = redis.call("incrby", KEYS[1], tonumber(ARGV[2]))
if tonumber(current) == tonumber(ARGV[2]) then
    redis.call("expire", KEYS[1], ARGV[1])
end
return {current, redis.call("pttl", KEYS[1])}
"""
_HITS = "mailer_window_hits"


class HitWindowRateLimiter(FixedWindowRateLimiter):
    """FixedWindowRateLimiter whose hit on Redis also yields the window's stats for the same request."""

    def __init__(self, storage: RedisStorage) -> None:
        super().__init__(storage)
        self._script = storage.get_connection().register_script(_INCR_EXPIRE_TTL)

    def hit(self, item: RateLimitItem, *identifiers: str, cost: int = 1) -> bool:
        key = item.key_for(*identifiers)
        assert isinstance(self.storage, RedisStorage)
        count, ttl_ms = self._script([self.storage.prefixed_key(key)], [item.get_expiry(), cost])
        if has_app_context():
            reset = time.time() + max(int(ttl_ms), 0) / 1000
            g.setdefault(_HITS, {})[key] = WindowStats(reset, max(0, item.amount - int(count)))
        return int(count) <= item.amount

    def get_window_stats(self, item: RateLimitItem, *identifiers: str) -> WindowStats:
        hits = g.get(_HITS) if has_app_context() else None
        stats = hits.pop(item.key_for(*identifiers), None) if hits else None
        return stats if stats is not None else super().get_window_stats(item, *identifiers)
