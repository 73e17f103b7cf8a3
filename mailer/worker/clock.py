"""The periodic sweep's clock, with no cron and no custom worker class.

Three things offer the sweep, each offer one Redis SET NX: a thread in every serving web process
(gunicorn), every job on its way out, and MailerWorker's heartbeat. The key ``mailer:sweep:next``
with a TTL of SWEEP_INTERVAL_SECONDS lets one offer per interval, across all processes and hosts,
run the sweep at once where it is (it never waits for RQ's scheduler, nor takes a worker's turn);
the sweep itself holds a lock, so two sweeps never overlap.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time

from flask import Flask, current_app
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from mailer.extensions import db
from mailer.mail.sweeper import periodic_sweep_due, sweep
from mailer.queues import get_redis

log = logging.getLogger(__name__)

OFFER_EVERY_SECONDS = 1.0
_last_offer = 0.0


def offer_sweep() -> bool:
    """Run the periodic sweep here if this interval has had none yet (in an app context); True if we did.

    At most one Redis round trip per second per process; never raises for Redis or database trouble.
    """
    global _last_offer
    if time.monotonic() - _last_offer < OFFER_EVERY_SECONDS:
        return False
    _last_offer = time.monotonic()
    config = current_app.config["MAILER"]
    try:
        if not periodic_sweep_due(get_redis(), config.SWEEP_INTERVAL_SECONDS):
            return False
        sweep(get_redis(), config.DELIVERY_LEASE_SECONDS)
    except RedisError:
        log.warning("could not run the periodic sweep; the next offer tries again")
        return False
    except SQLAlchemyError:
        db.session.rollback()
        log.exception("the periodic sweep failed; the next interval tries again")
        return False
    return True


class SweepClock:
    """A daemon thread offering the sweep every second, one per serving process."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.pid: int | None = None
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def ensure_running(self) -> None:
        if self.pid == os.getpid():
            return
        with self._lock:
            if self.pid == os.getpid():
                return
            self.pid = os.getpid()
            self._thread = threading.Thread(target=self._run, name="mailer-sweep-clock", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """End the thread (an app that stops serving while its process lives on, as in a test run)."""
        self._stopped.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stopped.is_set():
            try:
                with self.app.app_context():
                    offer_sweep()
            except Exception:  # the clock must outlive any one sweep's failure
                log.exception("sweep clock tick failed")
            self._stopped.wait(OFFER_EVERY_SECONDS)


def init_clock(app: Flask) -> None:
    """Start the clock in every gunicorn process at once, and in any other server at its first request.

    Not under TESTING, and not in a CLI command (which serves no request).
    """
    if app.testing:
        return
    clock = SweepClock(app)
    app.extensions["mailer_sweep_clock"] = clock
    app.before_request(clock.ensure_running)
    if "gunicorn" in sys.modules:
        clock.ensure_running()
