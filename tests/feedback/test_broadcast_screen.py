"""A broadcast's suppression screen at accept time (§8), done in bulk: members suppressed as written and
members suppressed only as their erased digest are failed in the 202's transaction, never sent, and each
gets its `suppressed` event and its `message.suppressed` webhook event."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from redis import Redis
from sqlalchemy import select

from mailer.extensions import db
from mailer.models import Suppression, Tenant
from mailer.models.webhook import WebhookEndpoint, WebhookEvent
from mailer.security.address_digest import address_digest
from tests.feedback.rig import outcomes
from tests.fixtures import SmtpSink, add_users, drain

Admin = tuple[FlaskClient, dict[str, Any]]


def _setup(app: Flask) -> uuid.UUID:
    with app.app_context():
        tenant_id = db.session.scalars(select(Tenant.id)).one()
        keys = app.config["MAILER"]
        db.session.add_all([
            Suppression(tenant_id=tenant_id, email="bob@example.com", scope="broadcast", reason="manual"),
            Suppression(tenant_id=tenant_id, email=address_digest(keys, "cat@example.com"), scope="all",
                        reason="manual"),
            WebhookEndpoint(tenant_id=tenant_id, url="https://hooks.example.com/mailer",
                            events=["message.suppressed"], secret_sealed="unused in this test"),
        ])
        db.session.commit()
    add_users(app, str(tenant_id), ["ann@example.com", "bob@example.com", "cat@example.com", "dan@example.com"])
    return tenant_id


def test_suppressed_members_fail_in_the_202_with_their_events_and_are_never_sent(
    bounce_app: Flask, redis: Redis, admin: Admin, smtp_server: SmtpSink,
) -> None:
    client, headers = admin
    _setup(bounce_app)
    response = client.post("/v1/broadcasts", json={"subject": "News", "text": "Hello {{ recipient.email }}",
                                                   "audience": {"roles": ["user"]}}, headers=headers)
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    assert body["recipient_count"] == 4
    rows = client.get(f"/v1/messages/{body['id']}/recipients", headers=headers).get_json()["items"]
    assert {r["email"]: (r["status"], r["error_code"]) for r in rows} == {
        "ann@example.com": ("queued", None), "bob@example.com": ("failed", "suppressed"),
        "cat@example.com": ("failed", "suppressed"), "dan@example.com": ("queued", None)}
    suppressed = {r["id"] for r in rows if r["error_code"] == "suppressed"}
    for recipient_id in suppressed:
        assert outcomes(bounce_app, recipient_id) == ["suppressed"]
    with bounce_app.app_context():
        events = db.session.scalars(select(WebhookEvent).where(WebhookEvent.type == "message.suppressed")).all()
        assert {e.data["recipient_id"] for e in events} == suppressed
        assert {e.data["status"] for e in events} == {"failed"}
    drain(bounce_app, redis)
    assert sorted(r for m in smtp_server.messages for r in m.rcpt_tos) == ["ann@example.com", "dan@example.com"]


def test_a_broadcast_with_every_member_suppressed_is_failed_at_once(
    bounce_app: Flask, redis: Redis, admin: Admin, smtp_server: SmtpSink,
) -> None:
    client, headers = admin
    with bounce_app.app_context():
        tenant_id = db.session.scalars(select(Tenant.id)).one()
        db.session.add(Suppression(tenant_id=tenant_id, email="eve@example.com", scope="all", reason="manual"))
        db.session.commit()
    add_users(bounce_app, str(tenant_id), ["Eve@example.com"])
    response = client.post("/v1/broadcasts", json={"subject": "News", "text": "Hi",
                                                   "audience": {"roles": ["user"]}}, headers=headers)
    assert response.status_code == 202 and response.get_json()["status"] == "failed"
    drain(bounce_app, redis)
    assert smtp_server.messages == []
