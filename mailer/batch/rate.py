"""The per-message rate limit (RATELIMIT_MESSAGES), spent once per batch item.

A batch item spends from the very bucket POST /v1/messages spends from (same limiter storage,
key and scope), so sending in batches neither dodges the limit nor gets a second one. A batch
reads what is left and takes it in one step (a concurrent request that got there first makes it
take one at a time). If the limiter's storage is down, this process's memory keeps the count, as
flask-limiter does.
"""

from __future__ import annotations

import logging

from flask import current_app
from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import FixedWindowRateLimiter, RateLimiter

from mailer.extensions import current_limiter
from mailer.http.rate_limits import sender_key

log = logging.getLogger(__name__)

SINGLE_SEND_SCOPE = "notifications.create_message"
_memory = FixedWindowRateLimiter(MemoryStorage())


def spend_message_rate(count: int) -> int:
    """Spend up to ``count`` messages of the caller's RATELIMIT_MESSAGES; how many the limit allowed.

    The allowed ones are the first ones of the batch; the rest are refused (429) by the caller.
    """
    limiter = current_limiter()
    if limiter is None or not limiter.enabled:
        return count
    identifiers = ("mailer", sender_key(), SINGLE_SEND_SCOPE)
    allowed = count
    for item in parse_many(current_app.config["MAILER"].RATELIMIT_MESSAGES):
        try:
            allowed = _spend(limiter.limiter, item, identifiers, allowed)
        except Exception:  # any storage failure: keep counting in memory, never stop limiting
            log.warning("rate limit storage unreachable; counting batch messages in memory")
            allowed = _spend(_memory, item, identifiers, allowed)
    return allowed


def message_rate_left() -> int | None:
    """What the caller may still send under RATELIMIT_MESSAGES now (the tightest window); None when unlimited.

    Read before the body is parsed: a batch whose every item would be refused is refused whole (N9).
    """
    limiter = current_limiter()
    if limiter is None or not limiter.enabled:
        return None
    identifiers = ("mailer", sender_key(), SINGLE_SEND_SCOPE)
    left: int | None = None
    for item in parse_many(current_app.config["MAILER"].RATELIMIT_MESSAGES):
        try:
            remaining = limiter.limiter.get_window_stats(item, *identifiers).remaining
        except Exception:  # storage down: the in-memory count, as spend_message_rate uses then
            remaining = _memory.get_window_stats(item, *identifiers).remaining
        left = remaining if left is None else min(left, remaining)
    return left


def _spend(strategy: RateLimiter, item: RateLimitItem, identifiers: tuple[str, ...], wanted: int) -> int:
    take = min(wanted, strategy.get_window_stats(item, *identifiers).remaining)
    if take <= 0 or strategy.hit(item, *identifiers, cost=take):
        return max(take, 0)
    taken = 0
    while taken < wanted and strategy.hit(item, *identifiers):
        taken += 1
    return taken
