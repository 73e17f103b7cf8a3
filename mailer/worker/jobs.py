"""RQ entry points. Thin: they take ids (plain strings), run in the worker's app, and call the pipeline.

A bare ``rq worker`` imports this module in its work horse: the first job of a process builds
the app (``worker_app``), later jobs of the same process reuse it, and a worker class that builds
it before forking (mailer.worker.MailerWorker) hands it to every work horse for free. No database
connection crosses a fork. Every job also offers the periodic sweep on its way out (one Redis
SET NX), so a fleet of bare workers keeps the sweeper going while it has work.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict
from typing import Any

from flask import Flask, current_app, has_app_context

log = logging.getLogger(__name__)

_app: Flask | None = None


def worker_app() -> Flask:
    """This process's app, built on first use; forked children inherit it (their engine starts empty)."""
    global _app
    if _app is None:
        from mailer import create_app  # the app is built on a job's first touch, never at import

        use_app(create_app(http=False))
    assert _app is not None
    return _app


def use_app(app: Flask) -> None:
    """Make ``app`` the one jobs run in (a worker class that built it already, or a test)."""
    global _app
    first = _app is None
    _app = app
    if first:
        os.register_at_fork(after_in_child=_forget_parent_connections)


def _forget_parent_connections() -> None:
    if _app is None:
        return
    with _app.app_context():
        from mailer.extensions import db

        db.engine.dispose(close=False)  # the parent's sockets stay the parent's


_stop = threading.Event()


def stop_requested() -> bool:
    """Whether this process was asked to stop (SIGTERM): finish what is in hand, take no more."""
    return _stop.is_set()


@contextmanager
def job_scope() -> Iterator[None]:
    """The app context (unless the caller has one), the running job's log context, warm SIGTERM."""
    from rq import get_current_job

    from mailer.observability.logs import running_job

    with ExitStack() as stack:
        if not has_app_context():
            stack.enter_context(worker_app().app_context())
        job = get_current_job()
        if job is not None:
            stack.enter_context(running_job(job))
        stack.enter_context(_warm_sigterm())
        try:
            yield
        finally:
            _offer_sweep()


@contextmanager
def _warm_sigterm() -> Iterator[None]:
    """SIGTERM during a job asks it to finish its batch and stop (a bare work horse would die at once).

    A handler someone else installed (RQ's in a SimpleWorker) is still called after ours.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)

    def on_sigterm(signum: int, frame: Any) -> None:
        _stop.set()
        if callable(previous):
            previous(signum, frame)

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _offer_sweep() -> None:
    from mailer.worker.clock import offer_sweep

    offer_sweep()


def deliver_recipients(recipient_ids: list[str]) -> None:
    """Deliver these recipients when due, then whatever else of their server keeps coming (delivery loop)."""
    from rq import get_current_job

    from mailer.mail.delivery_loop import deliver_and_keep_going

    job = get_current_job()
    with job_scope():
        deliver_and_keep_going([uuid.UUID(rid) for rid in recipient_ids], job.id if job else None, stop_requested)


def sweep() -> dict[str, object]:
    """The periodic sweep (see mailer.mail.sweeper)."""
    from mailer.mail.sweeper import sweep as run_sweep
    from mailer.worker.queues import get_redis

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
