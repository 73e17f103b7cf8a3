"""RQ entry point of webhook delivery (thin; takes no arguments: the database says what is due).

Jobs name it by this dotted path (mailer.webhooks.jobs.dispatch_webhooks), also jobs enqueued before an
upgrade, so it stays here rather than in mailer.worker.jobs: an alias there would make webhooks and worker
import each other.
"""

from __future__ import annotations

from flask import current_app

from mailer.extensions import db
from mailer.queues import get_redis
from mailer.queues.job_scope import job_scope
from mailer.webhooks.dispatcher import run


def dispatch_webhooks() -> dict[str, object]:
    """One dispatcher run (see mailer.webhooks.dispatcher)."""
    with job_scope():
        report = run(db.session, get_redis(), current_app.config["MAILER"])
        return {"skipped": report.skipped, "rounds": report.rounds, "attempted": report.attempted,
                "succeeded": report.succeeded, "yielded": report.yielded}
