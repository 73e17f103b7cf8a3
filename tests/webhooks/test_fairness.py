"""One tenant's slow or hanging endpoints never delay another tenant's webhooks (API.md §9): with acme's
five endpoints dripping or hanging (more lanes than the dispatcher has threads), globex's deliveries — one
due at the start, one created while acme's POSTs still hang — reach its fast receiver within a bound."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis

from mailer.webhooks.bounds import THREADS
from mailer.webhooks.rounds import EXPIRED
from tests.fixtures import Seeded
from tests.webhooks.receiver import Receiver
from tests.webhooks.rig import FAST, deliveries, dispatch, subscribe
from tests.webhooks.slow_servers import SlowServer

TIMEOUT = 3.0
BOUND = 1.5  # well under one WEBHOOK_TIMEOUT_SECONDS


@pytest.fixture
def app(app_factory: Callable[..., Flask]) -> Flask:
    return app_factory(**{**FAST, "WEBHOOK_TIMEOUT_SECONDS": TIMEOUT})


def _subscribe_raw(client: FlaskClient, tenant: Seeded, url: str) -> str:
    response = client.post("/v1/webhooks", json={"url": url, "events": ["message.sent"]}, headers=tenant.admin)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def _test_event(client: FlaskClient, tenant: Seeded, webhook_id: str) -> None:
    assert client.post(f"/v1/webhooks/{webhook_id}/test", headers=tenant.admin).status_code == 202


def _wait_for(predicate: Callable[[], Any], timeout: float) -> float:
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            return float("inf")
        time.sleep(0.02)
    return time.monotonic() - started


def test_a_tenant_s_hanging_endpoints_do_not_delay_another_tenant(
    app: Flask, client: FlaskClient, acme: Seeded, globex: Seeded, receiver: Receiver, redis: Redis,
) -> None:
    slow = [SlowServer("drip-body").start() for _ in range(3)] + [SlowServer("hang").start() for _ in range(2)]
    try:
        acme_hooks = [_subscribe_raw(client, acme, server.url) for server in slow]
        for hook in acme_hooks:  # 5 endpoints, 4 deliveries each: 20 lanes wanted, more than THREADS
            for _ in range(4):
                _test_event(client, acme, hook)
        assert len(acme_hooks) * 4 > THREADS
        globex_hook = subscribe(client, globex, receiver)
        _test_event(client, globex, globex_hook["id"])

        run = threading.Thread(target=dispatch, args=(app, redis), kwargs={"run_seconds": 5})
        started = time.monotonic()
        run.start()
        first = _wait_for(lambda: len(receiver.requests) >= 1, timeout=2 * TIMEOUT + 2)
        assert first < BOUND, f"globex's first delivery waited {first:.1f} s behind acme's endpoints"
        assert time.monotonic() - started < TIMEOUT  # acme's POSTs are still hanging now
        _test_event(client, globex, globex_hook["id"])
        second = _wait_for(lambda: len(receiver.requests) >= 2, timeout=2 * TIMEOUT + 2)
        assert second < BOUND, f"globex's second delivery waited {second:.1f} s for acme's round"
        run.join(timeout=4 * TIMEOUT)
        assert not run.is_alive()
        assert all(r.verified_by for r in receiver.requests)
        for hook in acme_hooks:  # every acme attempt was one bounded timeout, not a dripped success
            for delivery in deliveries(client, acme, hook):
                assert delivery["status"] in ("pending", "failed")  # retried every 1 s: some ran out of retries
                if delivery["attempts"]:  # its last attempt timed out, or the schedule ran out after attempts that did
                    assert "timed out" in delivery["last_error"] or delivery["last_error"] == EXPIRED
        [one, two] = deliveries(client, globex, globex_hook["id"])
        assert one["status"] == two["status"] == "succeeded"
    finally:
        for server in slow:
            server.stop()
