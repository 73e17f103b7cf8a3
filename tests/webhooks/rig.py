"""What webhook tests share beyond their fixtures: fast-retry settings, subscribing a receiver, running the
dispatcher in this process, reading deliveries."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from redis import Redis

from tests.fixtures import Seeded
from tests.webhooks.receiver import Receiver

FAST = {"WEBHOOK_ALLOW_PRIVATE": True, "WEBHOOK_RETRY_DELAYS": (1, 1), "WEBHOOK_TIMEOUT_SECONDS": 1.0}


def subscribe(client: FlaskClient, tenant: Seeded, receiver: Receiver, events: list[str] | None = None,
              **extra: Any) -> dict[str, Any]:
    """Creates an endpoint for ``receiver`` and teaches the receiver its secret."""
    body = {"url": receiver.url, "events": events or ["message.sent", "message.failed", "message.deferred"],
            **extra}
    response = client.post("/v1/webhooks", json=body, headers=tenant.admin)
    assert response.status_code == 201, response.get_json()
    created = response.get_json()
    receiver.secrets.append(created["secret"])
    return created


def dispatch(app: Flask, redis: Redis, **options: Any) -> Any:
    """One dispatcher run, exactly as the RQ job runs it (never yielding: no mail worker here)."""
    from mailer.extensions import db
    from mailer.webhooks.dispatcher import run

    options.setdefault("should_yield", lambda: False)
    with app.app_context():
        report = run(db.session, redis, app.config["MAILER"], **options)
        db.session.remove()
        return report


def dispatch_until(app: Flask, redis: Redis, predicate: Callable[[], Any], timeout: float = 20.0) -> Any:
    """Run the dispatcher again and again (as its scheduled wake-ups would) until ``predicate()``."""
    deadline = time.monotonic() + timeout
    while True:
        dispatch(app, redis)
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {predicate}")
        time.sleep(0.1)


def deliveries(client: FlaskClient, tenant: Seeded, webhook_id: str, **query: Any) -> list[dict[str, Any]]:
    response = client.get(f"/v1/webhooks/{webhook_id}/deliveries", query_string=query, headers=tenant.admin)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["items"]
