"""RQ entry points. Thin: they take ids (plain strings), run in ``job_scope`` and call a service.

The top of the RQ boundary: these import the services they call, so nothing imports them (jobs are
enqueued by dotted path, e.g. ``mailer.worker.jobs.deliver_recipients``; those paths are kept, as
jobs enqueued before an upgrade still name them). A bare ``rq worker`` imports this module in every
work horse, so each job imports only what it needs. Feedback's and webhooks' entry points keep
their own dotted paths (mailer.feedback.jobs, mailer.webhooks.jobs).
"""

from __future__ import annotations

import uuid
from dataclasses import asdict

from flask import current_app
from rq import get_current_job

from mailer.queues import get_redis
from mailer.queues.job_scope import job_scope, stop_requested


def deliver_recipients(recipient_ids: list[str]) -> None:
    """Deliver these recipients when due, then whatever else of their server keeps coming (delivery loop)."""
    from mailer.mail.delivery_loop import deliver_and_keep_going

    job = get_current_job()
    with job_scope():
        deliver_and_keep_going([uuid.UUID(rid) for rid in recipient_ids], job.id if job else None, stop_requested)


def sweep() -> dict[str, object]:
    """The periodic sweep (see mailer.mail.sweeper)."""
    from mailer.mail.sweeper import sweep as run_sweep

    with job_scope():
        return asdict(run_sweep(get_redis(), current_app.config["MAILER"].DELIVERY_LEASE_SECONDS))


def process_auth_request(tenant_id: str, request_id: str) -> None:
    from mailer.accounts.notices import process_auth_request as process

    with job_scope():
        process(uuid.UUID(tenant_id), uuid.UUID(request_id))


def refresh_overview(tenant_id: str) -> None:
    """Recount a tenant's console overview (queued by a view of stale figures)."""
    from mailer.notifications.overview import refresh

    with job_scope():
        refresh(uuid.UUID(tenant_id))
