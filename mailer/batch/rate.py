"""The per-message rate limit (RATELIMIT_MESSAGES), spent once per batch item.

A batch item spends from the very bucket POST /v1/messages spends from (same limiter storage,
key and scope), so sending in batches neither dodges the limit nor gets a second one. If the
limiter's storage is down, this process's memory keeps the count, as flask-limiter does.
"""

from __future__ import annotations

import logging

from flask import current_app
from flask_limiter import Limiter
from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import FixedWindowRateLimiter

from mailer.errors import RateLimitedError
from mailer.limits import EXTENSION, sender_key

log = logging.getLogger(__name__)

SINGLE_SEND_SCOPE = "notifications.create_message"
_memory = FixedWindowRateLimiter(MemoryStorage())


def spend_message_rate() -> None:
    """Count one message against the caller's RATELIMIT_MESSAGES; RateLimitedError when it is spent."""
    limiter: Limiter | None = current_app.extensions.get(EXTENSION)
    if limiter is None or not limiter.enabled:
        return
    identifiers = ("mailer", sender_key(), SINGLE_SEND_SCOPE)
    for item in parse_many(current_app.config["MAILER"].RATELIMIT_MESSAGES):
        if not _hit(limiter, item, identifiers):
            raise RateLimitedError(f"More than {item} messages; this one was not accepted.")


def _hit(limiter: Limiter, item: RateLimitItem, identifiers: tuple[str, ...]) -> bool:
    try:
        return limiter.limiter.hit(item, *identifiers)
    except Exception:  # any storage failure: keep counting in memory, never stop limiting
        log.warning("rate limit storage unreachable; counting batch messages in memory")
        return _memory.hit(item, *identifiers)
