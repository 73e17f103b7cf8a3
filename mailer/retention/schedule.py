"""Retention runs daily by itself: a sweep hook that does the day's purge at most once a day.

Every sweep (every SWEEP_INTERVAL_SECONDS) calls ``run_daily_purge``; a Redis key that lives a day,
set only if absent, lets exactly one sweep a day through. After a Redis flush the key is gone and the
next sweep purges again, which is harmless: the purge is idempotent.
"""

from __future__ import annotations

from flask import current_app

from mailer.queues import get_redis
from mailer.retention.run import purge_now

DAY_KEY = "mailer:retention:next"
DAY_SECONDS = 86_400


def run_daily_purge() -> bool:
    """Purge if no one has today; True when this call did."""
    if not get_redis().set(DAY_KEY, "1", nx=True, ex=DAY_SECONDS):
        return False
    purge_now(current_app.config["MAILER"])
    return True
