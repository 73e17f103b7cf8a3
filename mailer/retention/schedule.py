"""Retention runs daily by itself: a sweep hook that does the day's purge, then rests for a day.

Every sweep (every SWEEP_INTERVAL_SECONDS; sweeps never overlap) calls ``run_daily_purge``. It purges
for at most BUDGET_SECONDS, so the sweep job stays well inside its timeout; once a purge has finished,
a Redis key that lives a day keeps later sweeps out. A purge cut short by its budget sets no key, so
the next sweep goes on where it stopped. After a Redis flush the key is gone and the next sweep purges
again, which is harmless: the purge is idempotent.
"""

from __future__ import annotations

from flask import current_app

from mailer.queues import get_redis
from mailer.retention.run import purge_now

DAY_KEY = "mailer:retention:next"
DAY_SECONDS = 86_400
BUDGET_SECONDS = 120.0


def run_daily_purge() -> bool:
    """Purge unless today's purge is done; True when this call did (all of it or its budget's worth)."""
    redis = get_redis()
    if redis.exists(DAY_KEY):
        return False
    if purge_now(current_app.config["MAILER"], budget_seconds=BUDGET_SECONDS)["complete"]:
        redis.set(DAY_KEY, "1", ex=DAY_SECONDS)
    return True
