"""The optional faster worker class: `rq worker --worker-class mailer.worker.MailerWorker --with-scheduler …`.

A bare `rq worker` runs every Mailer job correctly (see mailer.queues.job_scope); this class only
makes each job cheaper: it builds the app once in the worker process before forking, so a work
horse starts with everything imported and configured instead of building the app itself. Jobs
are read with RQ's default serializer, so bare workers and these share one fleet. Its heartbeat
also offers the periodic sweep (as jobs and the web app do). SIGTERM is a warm shutdown: the
current batch finishes and is committed, then the worker exits (the work horse ignores SIGTERM;
a second SIGTERM or SIGINT is a cold shutdown).
"""

from __future__ import annotations

import logging
import signal
from typing import Any

from rq import SimpleWorker, Worker

from mailer.queues.job_scope import use_app, worker_app
from mailer.worker.clock import offer_sweep

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
        if app is not None:
            use_app(app)
        self.app = worker_app()
        _log_through_the_app()
        self._sweep_interval = int(self.app.config["MAILER"].SWEEP_INTERVAL_SECONDS)
        super().__init__(*args, **kwargs)

    @property
    def dequeue_timeout(self) -> int:
        # Wake up at least once per sweep interval, so an idle worker still keeps the sweeper going.
        return max(1, min(super().dequeue_timeout, self._sweep_interval))  # type: ignore[misc]

    def heartbeat(self, *args: Any, **kwargs: Any) -> Any:
        result = super().heartbeat(*args, **kwargs)  # type: ignore[misc]
        if not getattr(self, "_is_horse", False):
            with self.app.app_context():
                offer_sweep()
        return result

    def setup_work_horse_signals(self) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


class MailerWorker(_AppWorkerMixin, Worker):
    """Forks a work horse per job (isolation; the default)."""


class MailerSimpleWorker(_AppWorkerMixin, SimpleWorker):
    """Runs jobs in the worker process itself: cheaper per job, no isolation."""
