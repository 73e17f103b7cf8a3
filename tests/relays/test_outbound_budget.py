"""N8: the relay test holds a web worker for SMTP_TIMEOUT_SECONDS in all, and is rate-limited per tenant."""

from __future__ import annotations

import time

from tests.relays.conftest import admin_of, put_relay
from tests.smtp.smtpd import HOST, ScriptedServer, free_port


def test_a_dripping_relay_is_cut_off_at_smtp_timeout_seconds_in_all(app_factory):
    """A server that answers one byte every 20 ms never trips a socket timeout; the whole-test deadline does."""
    app = app_factory(RELAY_ALLOW_PRIVATE=True, SMTP_TIMEOUT_SECONDS=2.0)
    client = app.test_client()
    admin = admin_of(app, client, "acme")
    with ScriptedServer(trickle_greeting=True, interval=0.02) as smtp:
        put_relay(client, admin, {"host": HOST, "port": smtp.port, "encryption": "none"})
        started = time.monotonic()
        body = client.post("/v1/tenant/smtp/test", headers=admin).get_json()
        took = time.monotonic() - started
    assert body["ok"] is False and "deadline" in body["error"]
    assert took < 3.5, took  # 2 s in all (it was 4 x SMTP_TIMEOUT_SECONDS: 8 s here, 60 s by default)


def test_the_relay_test_is_rate_limited_per_tenant(app_factory):
    app = app_factory(RELAY_ALLOW_PRIVATE=True, RATELIMIT_RELAY_TEST="2/minute")
    client = app.test_client()
    acme, globex = admin_of(app, client, "acme"), admin_of(app, client, "globex")
    for admin in (acme, globex):
        put_relay(client, admin, {"host": "127.0.0.1", "port": free_port(), "encryption": "none"})
    assert [client.post("/v1/tenant/smtp/test", headers=acme).status_code for _ in range(3)] == [200, 200, 429]
    refused = client.post("/v1/tenant/smtp/test", headers=acme)
    assert refused.status_code == 429 and "Retry-After" in refused.headers
    assert client.post("/v1/tenant/smtp/test", headers=globex).status_code == 200  # another tenant's budget
