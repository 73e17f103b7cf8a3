"""The RQ worker class for Mailer: `rq worker --worker-class mailer.worker.MailerWorker --with-scheduler …`.

It creates the Flask app once per worker process, runs every job inside its app context,
reads jobs with RQ's JSON serializer, and makes sure no database connection crosses a fork.
It also keeps the periodic sweeper going (see mailer.mail.sweeper): on its heartbeat it
offers to enqueue the sweep job, and a Redis key lets one worker per interval do so.
SIGTERM is a warm shutdown: the current batch finishes and is committed, then the worker
exits (the work horse ignores SIGTERM; a second SIGTERM or SIGINT is a cold shutdown).
"""

from __future__ import annotations

import logging
import os
import signal
import time
from typing import Any

from redis.exceptions import RedisError
from rq import SimpleWorker, Worker
from rq.serializers import JSONSerializer

log = logging.getLogger(__name__)


def _log_through_the_app() -> None:
    """RQ's CLI gave its loggers their own stdout handlers before our app configured logging;
    drop them so every line goes once, through the app's (JSON, scrubbed) root handler."""
    if not logging.getLogger().handlers:
        return
    for name in ("rq.worker", "rq.job", "rq.scheduler"):
        logging.getLogger(name).handlers.clear()


class _AppWorkerMixin:
    _is_horse: bool
    connection: Any

    def __init__(self, *args: Any, app: Any = None, **kwargs: Any) -> None:
        kwargs["serializer"] = JSONSerializer
        if app is None:
            from mailer import create_app

            app = create_app()
        _log_through_the_app()
        self.app = app
        self._sweep_interval = int(app.config["MAILER"].SWEEP_INTERVAL_SECONDS)
        self._sweep_checked = 0.0
        super().__init__(*args, **kwargs)
        engine_owner = app

        def _forget_parent_connections() -> None:
            with engine_owner.app_context():
                from mailer.extensions import db

                db.engine.dispose(close=False)

        os.register_at_fork(after_in_child=_forget_parent_connections)

    @property
    def dequeue_timeout(self) -> int:
        # Wake up at least once per sweep interval, so an idle worker still keeps the sweeper going.
        return max(1, min(super().dequeue_timeout, self._sweep_interval))  # type: ignore[misc]

    def perform_job(self, job: Any, queue: Any) -> bool:
        from mailer.observability.logs import running_job

        with self.app.app_context(), running_job(job):
            return super().perform_job(job, queue)  # type: ignore[misc]

    def heartbeat(self, *args: Any, **kwargs: Any) -> Any:
        result = super().heartbeat(*args, **kwargs)  # type: ignore[misc]
        self._offer_sweep()
        return result

    def setup_work_horse_signals(self) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)

    def _offer_sweep(self) -> None:
        if getattr(self, "_is_horse", False) or time.monotonic() - self._sweep_checked < 1:
            return
        self._sweep_checked = time.monotonic()
        from mailer.mail.sweeper import trigger_periodic_sweep

        try:
            trigger_periodic_sweep(self.connection, self._sweep_interval)
        except RedisError:
            log.warning("could not schedule the periodic sweep; will try again on the next heartbeat")


class MailerWorker(_AppWorkerMixin, Worker):
    """Forks a work horse per job (isolation; the default)."""


class MailerSimpleWorker(_AppWorkerMixin, SimpleWorker):
    """Runs jobs in the worker process itself: cheaper per job, no isolation."""
