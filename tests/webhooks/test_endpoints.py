"""Webhook endpoints (API.md §9): create/list/show/update/delete, the secret shown once and sealed,
rotation, tenant isolation, and the SSRF guard at creation."""

from __future__ import annotations

import base64
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from tests.fixtures import Seeded
from tests.webhooks.receiver import Receiver
from tests.webhooks.rig import subscribe


def test_create_shows_a_standard_webhooks_secret_once(client: FlaskClient, acme: Seeded, receiver: Receiver) -> None:
    """201 with `whsec_` + base64 of ≥ 24 bytes; list and show never carry it again."""
    created = subscribe(client, acme, receiver, events=["message.sent"], description="CRM")
    assert set(created) >= {"id", "url", "events", "enabled", "secret", "created_at"}
    assert created["enabled"] is True and created["events"] == ["message.sent"]
    assert created["secret"].startswith("whsec_")
    assert len(base64.b64decode(created["secret"].removeprefix("whsec_"))) >= 24
    shown = client.get(f"/v1/webhooks/{created['id']}", headers=acme.admin).get_json()
    listed = client.get("/v1/webhooks", headers=acme.admin).get_json()
    assert "secret" not in shown and shown["description"] == "CRM"
    assert listed["total"] == 1 and "secret" not in listed["items"][0]


def test_secret_is_stored_sealed_and_never_audited(app: Flask, client: FlaskClient, acme: Seeded,
                                                   receiver: Receiver) -> None:
    """The database holds a Fernet token that opens to the secret; no audit record contains it."""
    from sqlalchemy import select

    from mailer.extensions import db
    from mailer.models import AuditEvent, WebhookEndpoint
    from mailer.security.sealed import open_value

    created = subscribe(client, acme, receiver)
    rotated = client.post(f"/v1/webhooks/{created['id']}/rotate-secret", headers=acme.admin).get_json()
    with app.app_context():
        endpoint = db.session.scalars(select(WebhookEndpoint)).one()
        config = app.config["MAILER"]
        assert created["secret"] not in endpoint.secret_sealed
        current = open_value(config, WebhookEndpoint.secret_sealed, endpoint.id, endpoint.secret_sealed)
        assert current == rotated["secret"]
        assert open_value(config, WebhookEndpoint.previous_secret_sealed, endpoint.id,
                          endpoint.previous_secret_sealed) == created["secret"]
        audit = " ".join(str(e.details) for e in db.session.scalars(select(AuditEvent)))
    for secret in (created["secret"], rotated["secret"]):
        assert secret not in audit and secret.removeprefix("whsec_") not in audit


def test_patch_changes_url_events_and_enabled(client: FlaskClient, acme: Seeded, receiver: Receiver) -> None:
    """PATCH url, events and enabled; unknown fields and null are 422."""
    created = subscribe(client, acme, receiver)
    url = f"/v1/webhooks/{created['id']}"
    changed = client.patch(url, json={"events": ["broadcast.finished"], "enabled": False,
                                      "url": receiver.url + "?v=2"}, headers=acme.admin)
    assert changed.status_code == 200, changed.get_json()
    body = changed.get_json()
    assert body["events"] == ["broadcast.finished"] and body["enabled"] is False and body["url"].endswith("?v=2")
    assert client.patch(url, json={"secret": "x"}, headers=acme.admin).status_code == 422
    assert client.patch(url, json={"enabled": None}, headers=acme.admin).status_code == 422
    assert client.patch(url, json={"events": ["message.opened"]}, headers=acme.admin).status_code == 422


def test_delete_removes_the_endpoint(client: FlaskClient, acme: Seeded, receiver: Receiver) -> None:
    """DELETE → 204, then 404."""
    created = subscribe(client, acme, receiver)
    assert client.post(f"/v1/webhooks/{created['id']}/test", headers=acme.admin).status_code == 202
    assert client.delete(f"/v1/webhooks/{created['id']}", headers=acme.admin).status_code == 204
    assert client.get(f"/v1/webhooks/{created['id']}", headers=acme.admin).status_code == 404


def test_only_admins_manage_webhooks(client: FlaskClient, acme: Seeded, receiver: Receiver) -> None:
    """A plain user gets 403 on the list and on create."""
    assert client.get("/v1/webhooks", headers=acme.user).status_code == 403
    response = client.post("/v1/webhooks", json={"url": receiver.url, "events": ["message.sent"]}, headers=acme.user)
    assert response.status_code == 403


def test_another_tenants_ids_are_404(client: FlaskClient, acme: Seeded, globex: Seeded, receiver: Receiver) -> None:
    """Every route with acme's endpoint or delivery id answers 404 to globex's admin."""
    created = subscribe(client, acme, receiver)
    delivery = client.post(f"/v1/webhooks/{created['id']}/test", headers=acme.admin).get_json()["delivery_id"]
    base = f"/v1/webhooks/{created['id']}"
    calls: list[tuple[str, str, dict[str, Any] | None]] = [
        ("get", base, None), ("patch", base, {"enabled": False}), ("delete", base, None),
        ("post", f"{base}/rotate-secret", None), ("post", f"{base}/test", None), ("get", f"{base}/deliveries", None),
        ("get", f"{base}/deliveries/{delivery}", None), ("post", f"{base}/deliveries/{delivery}/retry", None),
    ]
    for method, url, body in calls:
        response = getattr(client, method)(url, json=body, headers=globex.admin)
        assert response.status_code == 404, (method, url, response.status_code)
    assert client.get("/v1/webhooks", headers=globex.admin).get_json()["total"] == 0
    assert client.get(base, headers=acme.admin).status_code == 200


def _refused(client: FlaskClient, tenant: Seeded, url: str) -> dict[str, Any]:
    response = client.post("/v1/webhooks", json={"url": url, "events": ["message.sent"]}, headers=tenant.admin)
    assert response.status_code == 422, (url, response.get_json())
    body = response.get_json()
    assert body["code"] == "validation_error" and body["errors"][0]["field"] == "url"
    return body


def test_ssrf_guard_refuses_private_addresses(client_factory: Any) -> None:
    """Without WEBHOOK_ALLOW_PRIVATE: http, loopback, private, link-local, shared, metadata and IPv6 loopback are 422;
    a public https address is accepted."""
    _, client, tenant = client_factory(WEBHOOK_ALLOW_PRIVATE=False)
    for url in ("http://93.184.215.14/hook", "https://127.0.0.1/hook", "https://localhost:8443/hook",
                "https://10.0.0.1/hook", "https://192.168.1.10/", "https://172.16.0.5/", "https://169.254.169.254/latest",
                "https://100.64.0.1/", "https://[::1]/", "https://[fe80::1]/", "https://0.0.0.0/",
                "https://[::ffff:127.0.0.1]/", "https://user:pw@93.184.215.14/", "ftp://93.184.215.14/"):
        _refused(client, tenant, url)
    response = client.post("/v1/webhooks", json={"url": "https://93.184.215.14/hook", "events": ["message.sent"]},
                           headers=tenant.admin)
    assert response.status_code == 201, response.get_json()


def test_ssrf_guard_resolves_names(client_factory: Any, dns_server: Any) -> None:
    """A name that resolves (through DNS_RESOLVERS, a real DNS server) to 127.0.0.1 or 10.0.0.1 is 422;
    one resolving to a public address is accepted; an unknown name is 422."""
    dns_server.records.update({"loop.hooks.test": "127.0.0.1", "ten.hooks.test": "10.0.0.1",
                               "public.hooks.test": "93.184.215.14"})
    _, client, tenant = client_factory(WEBHOOK_ALLOW_PRIVATE=False, DNS_RESOLVERS=(dns_server.address,))
    _refused(client, tenant, "https://loop.hooks.test/hook")
    _refused(client, tenant, "https://ten.hooks.test/hook")
    _refused(client, tenant, "https://nowhere.hooks.test/hook")
    response = client.post("/v1/webhooks", json={"url": "https://public.hooks.test/hook", "events": ["message.sent"]},
                           headers=tenant.admin)
    assert response.status_code == 201, response.get_json()


def test_a_tenant_has_a_bounded_number_of_endpoints(client: FlaskClient, acme: Seeded, receiver: Receiver) -> None:
    """Past MAX_ENDPOINTS a new endpoint is 422 (each event fans out to every endpoint)."""
    from mailer.webhooks.service import MAX_ENDPOINTS

    for _ in range(MAX_ENDPOINTS):
        subscribe(client, acme, receiver)
    response = client.post("/v1/webhooks", json={"url": receiver.url, "events": ["message.sent"]}, headers=acme.admin)
    assert response.status_code == 422 and response.get_json()["errors"][0]["field"] == "url"
