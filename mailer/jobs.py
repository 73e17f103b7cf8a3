"""RQ entry points. Thin: they take ids, run inside an app context, and call mail/."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask, current_app, has_app_context

_app: Flask | None = None
_app_pid: int | None = None


@contextmanager
def app_context() -> Iterator[None]:
    """The worker's app context; created once per process when a plain worker runs us."""
    global _app, _app_pid
    if has_app_context():
        yield
        return
    if _app is None or _app_pid != os.getpid():
        from mailer import create_app

        _app, _app_pid = create_app(), os.getpid()
    with _app.app_context():
        yield


def deliver_recipients(recipient_ids: list[str]) -> None:
    """Deliver a bounded batch of recipients (those still due; the rest are skipped)."""
    from mailer.mail.delivery import deliver_batch

    with app_context():
        deliver_batch([uuid.UUID(rid) for rid in recipient_ids])


def sweep() -> dict[str, object]:
    """The periodic sweep (see mailer.mail.sweeper)."""
    from mailer.mail.sweeper import sweep as run_sweep
    from mailer.queues import get_redis

    with app_context():
        report = run_sweep(get_redis(), current_app.config["MAILER"].DELIVERY_LEASE_SECONDS)
        return {"recipients": report.recipients, "by_queue": report.by_queue, "skipped": report.skipped,
                "hooks_failed": report.hooks_failed}


def process_auth_request(tenant_id: str, request_id: str) -> None:
    from mailer.accounts.notices import process_auth_request as process

    with app_context():
        process(uuid.UUID(tenant_id), uuid.UUID(request_id))
