"""RQ entry points. Thin: they take ids, run inside an app context, and call mail/."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask, has_app_context

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


def deliver_message(message_id: str) -> None:
    from mailer.mail.delivery import deliver

    with app_context():
        deliver(uuid.UUID(message_id))


def process_auth_request(tenant_id: str, request_id: str) -> None:
    from mailer.auth.notices import process_auth_request as process

    with app_context():
        process(uuid.UUID(tenant_id), uuid.UUID(request_id))
