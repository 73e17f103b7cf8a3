"""A failing endpoint backs off alone (API.md §9): it costs one probe per lane, others keep flowing,
and what it never got to try fails once the whole retry schedule has passed."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient
from redis import Redis

from mailer.webhooks.bounds import CONNECTIONS_PER_ENDPOINT
from mailer.webhooks.rounds import EXPIRED
from tests.fixtures import Seeded
from tests.webhooks.receiver import Receiver
from tests.webhooks.rig import deliveries, dispatch, subscribe


def _tests(client: FlaskClient, tenant: Seeded, webhook_id: str, n: int) -> None:
    for _ in range(n):
        assert client.post(f"/v1/webhooks/{webhook_id}/test", headers=tenant.admin).status_code == 202


def test_a_hanging_endpoint_costs_one_probe_per_lane(app: Flask, client: FlaskClient, acme: Seeded,
                                                      receiver: Receiver, redis: Redis) -> None:
    """Ten events each to a hanging and a healthy endpoint: in one run the healthy one gets all ten, the
    hanging one one request per lane; its other deliveries wait untried, and the run is not ten timeouts long."""
    slow = Receiver(default=("hang", 3)).start()
    try:
        fast_hook, slow_hook = subscribe(client, acme, receiver), subscribe(client, acme, slow)
        _tests(client, acme, fast_hook["id"], 10)
        _tests(client, acme, slow_hook["id"], 10)
        started = time.monotonic()
        dispatch(app, redis)
        elapsed = time.monotonic() - started
        assert len(receiver.requests) == 10 and all(r.verified_by for r in receiver.requests)
        assert len(slow.requests) == CONNECTIONS_PER_ENDPOINT
        assert elapsed < 5  # WEBHOOK_TIMEOUT_SECONDS is 1: one timeout per lane, in parallel
        attempts = sorted(d["attempts"] for d in deliveries(client, acme, slow_hook["id"]))
        assert attempts == [0] * (10 - CONNECTIONS_PER_ENDPOINT) + [1] * CONNECTIONS_PER_ENDPOINT
        assert {d["status"] for d in deliveries(client, acme, slow_hook["id"])} == {"pending"}
    finally:
        slow.stop()


def test_untried_deliveries_fail_after_the_whole_schedule(app: Flask, client: FlaskClient, acme: Seeded,
                                                          receiver: Receiver, redis: Redis) -> None:
    """Deliveries held back by a failing endpoint for longer than WEBHOOK_RETRY_DELAYS in all are `failed`."""
    from sqlalchemy import update

    from mailer.extensions import db
    from mailer.models import WebhookDelivery, WebhookEndpoint
    from mailer.models.types import utcnow

    receiver.default = 503
    hook = subscribe(client, acme, receiver)
    _tests(client, acme, hook["id"], CONNECTIONS_PER_ENDPOINT + 2)
    with app.app_context():  # they were created an hour ago
        db.session.execute(update(WebhookDelivery).values(created_at=utcnow() - timedelta(hours=1)))
        db.session.commit()
    dispatch(app, redis)
    rows = deliveries(client, acme, hook["id"])
    probed = [d for d in rows if d["status"] == "pending"]
    expired = [d for d in rows if d["status"] == "failed"]
    # The first 503 stops every lane: between one probe and one per lane were made, the rest expired.
    assert 1 <= len(probed) <= CONNECTIONS_PER_ENDPOINT and len(receiver.requests) == len(probed)
    assert all(d["attempts"] == 1 and d["last_status_code"] == 503 for d in probed)
    assert len(expired) == len(rows) - len(probed)
    assert all(d["attempts"] == 0 and d["last_error"] == EXPIRED for d in expired)
    with app.app_context():
        endpoint = db.session.get(WebhookEndpoint, uuid.UUID(hook["id"]))
        assert endpoint.failure_streak == 1 and endpoint.blocked_until is not None
