"""The suppression list: the API (§8), automatic entries from synchronous failures, and the checks at accept
and at delivery time."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from redis import Redis
from sqlalchemy import select, update

from mailer.extensions import db
from mailer.mail.outbox import requeue
from mailer.models import Recipient
from tests.feedback.rig import outcomes, send_and_deliver, suppressions
from tests.fixtures import SmtpSink, drain
from tests.helpers import bearer, create_tenant, login

Admin = tuple[FlaskClient, dict[str, Any]]


def _make_due_and_enqueue(app: Flask, message_id: str) -> None:
    """Time passes: the message's waiting recipients are due now, and a job for them is enqueued."""
    with app.app_context():
        db.session.execute(update(Recipient).values(next_attempt_at=datetime.now(UTC) - timedelta(seconds=1)))
        db.session.commit()
        waiting = db.session.scalars(select(Recipient.id).where(
            Recipient.message_id == uuid.UUID(message_id), Recipient.status.in_(["queued", "deferred"]))).all()
        requeue(list(waiting), "default")


def _suppress(admin: Admin, email: str, **extra: Any) -> Any:
    client, headers = admin
    return client.post("/v1/suppressions", json={"email": email, "reason": "manual", **extra}, headers=headers)


def test_create_read_list_and_delete(bounce_app: Flask, admin: Admin) -> None:
    """POST → 201 entry; GET by address (any case) lists its scopes; filters; DELETE → 204, then 404."""
    client, headers = admin
    created = _suppress(admin, "Ann@Example.com")
    assert created.status_code == 201
    body = created.get_json()
    assert (body["email"], body["scope"], body["reason"], body["source_message_id"]) == (
        "ann@example.com", "all", "manual", None)
    assert _suppress(admin, "ann@example.com", scope="broadcast").status_code == 201
    assert _suppress(admin, "bob@example.com").status_code == 201
    assert _suppress(admin, "ann@example.com").get_json()["created_at"] == body["created_at"]  # idempotent
    entries = client.get("/v1/suppressions/ANN@example.com", headers=headers).get_json()["items"]
    assert sorted(e["scope"] for e in entries) == ["all", "broadcast"]
    assert client.get("/v1/suppressions", headers=headers).get_json()["total"] == 3
    assert client.get("/v1/suppressions?scope=broadcast", headers=headers).get_json()["total"] == 1
    assert client.get("/v1/suppressions?email=bob@example.com", headers=headers).get_json()["total"] == 1
    assert client.get("/v1/suppressions?reason=complaint", headers=headers).get_json()["total"] == 0
    assert client.delete("/v1/suppressions/ann@example.com?scope=broadcast", headers=headers).status_code == 204
    assert len(client.get("/v1/suppressions/ann@example.com", headers=headers).get_json()["items"]) == 1
    assert client.delete("/v1/suppressions/ann@example.com", headers=headers).status_code == 204
    missing = client.get("/v1/suppressions/ann@example.com", headers=headers)
    assert missing.status_code == 404 and missing.get_json()["code"] == "not_found"
    assert client.delete("/v1/suppressions/ann@example.com", headers=headers).status_code == 404
    actions = [e["action"] for e in client.get("/v1/audit-events", headers=headers).get_json()["items"]]
    assert actions.count("suppression.created") == 3 and actions.count("suppression.deleted") == 2


def test_bad_input_and_roles(bounce_app: Flask, admin: Admin) -> None:
    """An invalid address or reason → 422; a non-admin → 403; another tenant sees nothing (404)."""
    client, headers = admin
    assert _suppress(admin, "not an address").status_code == 422
    assert _suppress(admin, "ann@example.com", reason="hard_bounce").status_code == 422
    assert _suppress(admin, "ann@example.com", scope="everything").status_code == 422
    assert _suppress(admin, "ann@example.com").status_code == 201
    create_tenant(bounce_app, "globex", "boss@globex.test")
    globex = bearer(login(client, "globex", "boss@globex.test"))
    assert client.get("/v1/suppressions/ann@example.com", headers=globex).status_code == 404
    assert client.get("/v1/suppressions", headers=globex).get_json()["total"] == 0
    assert client.delete("/v1/suppressions/ann@example.com", headers=globex).status_code == 404
    key = client.post("/v1/api-keys", json={"name": "ci"}, headers=headers).get_json()["key"]
    assert client.get("/v1/suppressions", headers=bearer(key)).status_code == 403


def test_a_suppressed_address_is_failed_in_the_202_and_never_tried(bounce_app: Flask, redis: Redis, admin: Admin,
                                                                   smtp_server: SmtpSink) -> None:
    """The 202 already shows it failed; no SMTP attempt; error_code suppressed; an event suppressed."""
    client, headers = admin
    _suppress(admin, "ann@example.com")
    response = client.post("/v1/messages", json={"to": ["ANN@example.com", "bob@example.com"], "subject": "Hi",
                                                 "text": "x"}, headers=headers).get_json()
    assert [r["status"] for r in response["recipients"]] == ["failed", "queued"]
    drain(bounce_app, redis)
    assert [m.rcpt_tos for m in smtp_server.messages] == [["bob@example.com"]]
    body = client.get(f"/v1/messages/{response['id']}", headers=headers).get_json()
    assert body["status"] == "partially_failed" and body["counts"]["failed"] == 1
    ann = body["recipients"][0]
    assert (ann["status"], ann["error_code"], ann["attempts"]) == ("failed", "suppressed", 0)
    only = client.post("/v1/messages", json={"to": ["ann@example.com"], "subject": "Hi", "text": "x"},
                       headers=headers).get_json()
    assert only["status"] == "failed" and only["recipients"][0]["status"] == "failed"


def test_a_send_at_message_made_before_the_suppression_is_checked_at_delivery(
    bounce_app: Flask, redis: Redis, admin: Admin, smtp_server: SmtpSink,
) -> None:
    """Scheduled, then the address is suppressed: when due, that recipient fails suppressed without SMTP."""
    client, headers = admin
    send_at = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    accepted = client.post("/v1/messages", json={"to": ["ann@example.com", "bob@example.com"], "subject": "Later",
                                                 "text": "x", "send_at": send_at}, headers=headers).get_json()
    assert accepted["status"] == "scheduled"
    _suppress(admin, "ann@example.com")
    _make_due_and_enqueue(bounce_app, accepted["id"])
    drain(bounce_app, redis)
    assert [m.rcpt_tos for m in smtp_server.messages] == [["bob@example.com"]]
    body = client.get(f"/v1/messages/{accepted['id']}", headers=headers).get_json()
    ann = next(r for r in body["recipients"] if r["email"] == "ann@example.com")
    assert (ann["status"], ann["error_code"], ann["attempts"]) == ("failed", "suppressed", 0)
    assert outcomes(bounce_app, ann["id"]) == ["suppressed"]


def test_a_retry_after_a_suppression_is_not_sent(bounce_app: Flask, redis: Redis, admin: Admin,
                                                 smtp_server: SmtpSink) -> None:
    """Deferred (451), then suppressed: the retry fails it suppressed instead of trying SMTP again."""
    client, headers = admin
    smtp_server.handler.rcpt_replies["ann@example.com"] = "451 4.3.0 try later"
    message = send_and_deliver(bounce_app, redis, client, headers, ["ann@example.com"])
    assert message["recipients"][0]["status"] == "deferred"
    del smtp_server.handler.rcpt_replies["ann@example.com"]
    _suppress(admin, "ann@example.com")
    _make_due_and_enqueue(bounce_app, message["id"])
    drain(bounce_app, redis)
    row = client.get(f"/v1/messages/{message['id']}", headers=headers).get_json()["recipients"][0]
    assert (row["status"], row["error_code"], row["attempts"]) == ("failed", "suppressed", 1)
    assert smtp_server.messages == []


def test_a_synchronous_5_1_1_suppresses_and_a_5_7_1_does_not(bounce_app: Flask, redis: Redis, admin: Admin,
                                                             smtp_server: SmtpSink) -> None:
    """The relay refusing RCPT with 5.1.1 adds hard_bounce (scope all); 5.7.1 adds nothing."""
    client, headers = admin
    smtp_server.handler.rcpt_replies["gone@example.com"] = "550 5.1.1 No such user"
    smtp_server.handler.rcpt_replies["blocked@example.com"] = "550 5.7.1 Rejected by policy"
    message = send_and_deliver(bounce_app, redis, client, headers, ["gone@example.com", "blocked@example.com"])
    assert {r["error_code"] for r in message["recipients"]} == {"recipient_rejected"}
    assert suppressions(bounce_app) == [("gone@example.com", "all", "hard_bounce")]
    [entry] = client.get("/v1/suppressions/gone@example.com", headers=headers).get_json()["items"]
    assert entry["enhanced_code"] == "5.1.1" and entry["source_message_id"] == message["id"]
