"""Where the round's capabilities meet: a bounce and a suppression told to the tenant's webhook, a suppression
that keeps working after its address is erased, and a purge of mail that feedback and webhooks wrote about."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from redis import Redis
from sqlalchemy import func, select, update

from mailer.extensions import db
from mailer.models import FeedbackRecord, Message, Suppression, WebhookEvent
from mailer.retention.run import purge_now
from tests.feedback import samples
from tests.feedback.rig import BOUNCE_DOMAIN, Receiver, envelope_of, running_receiver
from tests.fixtures import SmtpSink, drain
from tests.helpers import bearer, create_tenant, login
from tests.webhooks.receiver import Receiver as WebhookReceiver
from tests.webhooks.rig import FAST, dispatch_until


@pytest.fixture
def app(app_factory: Any) -> Flask:
    app = app_factory(BOUNCE_DOMAIN=BOUNCE_DOMAIN, **FAST)
    create_tenant(app)
    return app


@pytest.fixture
def inbound(app: Flask) -> Iterator[Receiver]:
    with running_receiver(app) as running:
        yield running


@pytest.fixture
def hooks() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver().start()
    yield server
    server.stop()


def _admin(app: Flask) -> tuple[Any, dict[str, str]]:
    client = app.test_client()
    return client, bearer(login(client, "acme", "admin@acme.test"))


def _send(app: Flask, redis: Redis, client: Any, headers: dict[str, str], to: str) -> dict[str, Any]:
    response = client.post("/v1/messages", json={"to": [to], "subject": "Hello", "text": "Hi"}, headers=headers)
    assert response.status_code == 202, response.get_json()
    drain(app, redis)
    return client.get(f"/v1/messages/{response.get_json()['id']}", headers=headers).get_json()


def _bounce(app: Flask, redis: Redis, inbound: Receiver, sink: SmtpSink, message: dict[str, Any], to: str) -> None:
    verp = envelope_of(sink, to)
    raw = samples.postfix_dsn(to=verp, verp=verp, recipient=to,
                              original_message_id=message["recipients"][0]["message_id"])
    assert inbound.send(verp, raw)[0] == 250
    drain(app, redis)


def test_a_bounce_reaches_the_webhook_as_message_bounced_and_suppression_created(
    app: Flask, redis: Redis, inbound: Receiver, hooks: WebhookReceiver, smtp_server: SmtpSink,
) -> None:
    """The DSN's status change and its suppression are each one signed event, verified with the stock library."""
    client, headers = _admin(app)
    created = client.post("/v1/webhooks", json={"url": hooks.url, "events": ["message.bounced",
                                                                             "suppression.created"]},
                          headers=headers).get_json()
    hooks.secrets.append(created["secret"])
    message = _send(app, redis, client, headers, "gone@example.com")
    _bounce(app, redis, inbound, smtp_server, message, "gone@example.com")

    dispatch_until(app, redis, lambda: len(hooks.requests) >= 2)
    by_type = {r.json["type"]: r for r in hooks.requests}
    assert set(by_type) == {"message.bounced", "suppression.created"}
    assert all(r.verified_by for r in hooks.requests)
    bounced = by_type["message.bounced"].json["data"]
    assert (bounced["message_id"], bounced["email"], bounced["status"]) == (message["id"], "gone@example.com",
                                                                          "bounced")
    assert (bounced["smtp_code"], bounced["enhanced_code"]) == (550, "5.1.1")
    suppression = by_type["suppression.created"].json["data"]
    assert (suppression["email"], suppression["reason"], suppression["scope"]) == ("gone@example.com",
                                                                                   "hard_bounce", "all")
    assert suppression["source_message_id"] == message["id"]


def test_a_suppression_at_accept_is_told_once_as_message_suppressed(app: Flask, redis: Redis,
                                                                     hooks: WebhookReceiver) -> None:
    """A suppressed recipient in the 202 gives one message.suppressed event, not one more at delivery time."""
    client, headers = _admin(app)
    created = client.post("/v1/webhooks", json={"url": hooks.url, "events": ["message.suppressed"]},
                          headers=headers).get_json()
    hooks.secrets.append(created["secret"])
    assert client.post("/v1/suppressions", json={"email": "no@example.com", "reason": "manual"},
                       headers=headers).status_code == 201
    response = client.post("/v1/messages", json={"to": ["no@example.com"], "subject": "Hi", "text": "x"},
                           headers=headers).get_json()
    drain(app, redis)
    dispatch_until(app, redis, lambda: hooks.requests)
    dispatch_until(app, redis, lambda: True)
    [event] = hooks.requests
    assert event.json["type"] == "message.suppressed" and event.json["data"]["message_id"] == response["id"]


def test_an_erased_address_stays_suppressed(app: Flask, redis: Redis, inbound: Receiver,
                                            smtp_server: SmtpSink) -> None:
    """After POST /v1/erasures the suppression row holds only the digest, and mail to the address is still
    failed as suppressed with no SMTP attempt."""
    client, headers = _admin(app)
    message = _send(app, redis, client, headers, "gone@example.com")
    _bounce(app, redis, inbound, smtp_server, message, "gone@example.com")
    assert client.post("/v1/erasures", json={"email": "gone@example.com"}, headers=headers).status_code == 202
    with app.app_context():
        [stored] = db.session.scalars(select(Suppression.email)).all()
        assert "gone@example.com" not in stored and stored.endswith("@erased.invalid")
    before = len(smtp_server.messages)
    again = client.post("/v1/messages", json={"to": ["Gone@example.com"], "subject": "Hi", "text": "x"},
                        headers=headers).get_json()
    assert again["recipients"][0]["status"] == "failed"
    drain(app, redis)
    assert len(smtp_server.messages) == before
    detail = client.get(f"/v1/messages/{again['id']}", headers=headers).get_json()
    assert detail["recipients"][0]["error_code"] == "suppressed"


def test_a_purge_takes_feedback_and_webhook_rows_with_the_mail(app: Flask, redis: Redis, inbound: Receiver,
                                                                hooks: WebhookReceiver,
                                                                smtp_server: SmtpSink) -> None:
    """A bounced message past retention goes with its feedback records and webhook events (no foreign key
    stops the purge, no event about a purged message is left)."""
    client, headers = _admin(app)
    created = client.post("/v1/webhooks", json={"url": hooks.url, "events": ["message.sent", "message.bounced"]},
                          headers=headers).get_json()
    hooks.secrets.append(created["secret"])
    message = _send(app, redis, client, headers, "gone@example.com")
    _bounce(app, redis, inbound, smtp_server, message, "gone@example.com")
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(FeedbackRecord)) == 1
        assert db.session.scalar(select(func.count()).select_from(WebhookEvent)) == 2
        old = datetime.now(UTC) - timedelta(days=40)
        db.session.execute(update(Message).values(created_at=old))
        db.session.commit()
        purge_now(app.config["MAILER"])
        assert db.session.scalar(select(func.count()).select_from(Message)) == 0
        assert db.session.scalar(select(func.count()).select_from(FeedbackRecord)) == 0
        assert db.session.scalar(select(func.count()).select_from(WebhookEvent)) == 0
