"""The app a job runs in: built on a job's first touch, reused by later jobs of the process.

A bare ``rq worker`` imports a job's module in its work horse: the first job of a process builds
the app (``worker_app``), later jobs of the same process reuse it, and a worker class that builds
it before forking (mailer.worker.MailerWorker) hands it to every work horse for free. No database
connection crosses a fork. Every job also runs the app's ``AFTER_JOB`` action on its way out (the
factory makes it the periodic sweep's offer, one Redis SET NX), so a fleet of bare workers keeps
the sweeper going while it has work.

Job entry points (mailer.worker.jobs, mailer.feedback.jobs, mailer.webhooks.jobs) sit above the
services they call; this module sits below them all, so it reaches the sweep through the app the factory built.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from flask import Flask, current_app, has_app_context
from rq import get_current_job

from mailer import AFTER_JOB, create_app
from mailer.extensions import db
from mailer.logs import running_job

_app: Flask | None = None


def worker_app() -> Flask:
    """This process's app, built on first use; forked children inherit it (their engine starts empty)."""
    global _app
    if _app is None:
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
        db.engine.dispose(close=False)  # the parent's sockets stay the parent's


_stop = threading.Event()


def stop_requested() -> bool:
    """Whether this process was asked to stop (SIGTERM): finish what is in hand, take no more."""
    return _stop.is_set()


@contextmanager
def job_scope() -> Iterator[None]:
    """The app context (unless the caller has one), the running job's log context, warm SIGTERM."""
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
            after_job = current_app.extensions.get(AFTER_JOB)
            if after_job is not None:
                after_job()


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
