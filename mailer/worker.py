"""The RQ worker class for Mailer: `rq worker --worker-class mailer.worker.MailerWorker …`.

It creates the Flask app once per worker process, runs every job inside its app context,
reads jobs with RQ's JSON serializer, and makes sure no database connection crosses a fork.
"""

from __future__ import annotations

import os
from typing import Any

from rq import SimpleWorker, Worker
from rq.serializers import JSONSerializer


class _AppWorkerMixin:
    def __init__(self, *args: Any, app: Any = None, **kwargs: Any) -> None:
        kwargs["serializer"] = JSONSerializer
        super().__init__(*args, **kwargs)
        if app is None:
            from mailer import create_app

            app = create_app()
        self.app = app
        engine_owner = app

        def _forget_parent_connections() -> None:
            with engine_owner.app_context():
                from mailer.extensions import db

                db.engine.dispose(close=False)

        os.register_at_fork(after_in_child=_forget_parent_connections)

    def perform_job(self, job: Any, queue: Any) -> bool:
        with self.app.app_context():
            return super().perform_job(job, queue)  # type: ignore[misc]


class MailerWorker(_AppWorkerMixin, Worker):
    """Forks a work horse per job (isolation; the default)."""


class MailerSimpleWorker(_AppWorkerMixin, SimpleWorker):
    """Runs jobs in the worker process itself: cheaper per job, no isolation."""
