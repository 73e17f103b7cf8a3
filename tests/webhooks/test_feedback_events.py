"""webhooks.emit as feedback calls it: message.bounced and suppression.created reach the receiver, signed,
with the contract's fields."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from types import SimpleNamespace

from flask import Flask
from flask.testing import FlaskClient
from redis import Redis
from sqlalchemy import select

from tests.fixtures import Drainer, Seeded
from tests.webhooks.receiver import Receiver
from tests.webhooks.rig import dispatch, subscribe


def test_a_bounce_becomes_message_bounced(app: Flask, client: FlaskClient, acme: Seeded, receiver: Receiver,
                                          worker: Drainer, redis: Redis) -> None:
    """emit(message.bounced, [(recipient, the report's codes)]) in a transaction → one signed `message.bounced`
    with the report's codes, which override the recipient's own."""
    from mailer.extensions import atomic, db
    from mailer.models import Recipient
    from mailer.webhooks import EventType, emit

    subscribe(client, acme, receiver, events=["message.bounced", "message.complained"])
    sent = client.post("/v1/messages", json={"to": ["ann@example.com"], "subject": "Hi", "text": "Hello"},
                       headers=acme.admin).get_json()
    worker()
    assert receiver.requests == []  # message.sent is not subscribed
    with app.app_context():
        recipient_id = db.session.scalar(select(Recipient.id).where(Recipient.message_id == uuid.UUID(sent["id"])))
        with atomic():
            emit(db.session, EventType.MESSAGE_BOUNCED, [
                (recipient_id, {"smtp_code": 550, "enhanced_code": "5.1.1", "response": "user unknown"})])
    dispatch(app, redis)
    [received] = receiver.requests
    assert received.verified_by and received.json["type"] == "message.bounced"
    data = received.json["data"]
    assert data["message_id"] == sent["id"] and data["recipient_id"] == str(recipient_id)
    assert (data["smtp_code"], data["enhanced_code"], data["response"]) == (550, "5.1.1", "user unknown")


def test_a_new_suppression_becomes_suppression_created(app: Flask, client: FlaskClient, acme: Seeded,
                                                       receiver: Receiver, redis: Redis) -> None:
    """emit(suppression.created, [entry]) → `suppression.created` carrying the entry as the API shows it."""
    from mailer.extensions import atomic, db
    from mailer.webhooks import EventType, emit

    subscribe(client, acme, receiver, events=["suppression.created"])
    entry = SimpleNamespace(tenant_id=uuid.UUID(acme.tenant_id), email="ann@example.com", scope="all",
                            reason="complaint", source_message_id=None, enhanced_code=None, detail="ARF report",
                            created_at=datetime(2026, 12, 1, 10, 0, tzinfo=UTC))
    with app.app_context(), atomic():
        emit(db.session, EventType.SUPPRESSION_CREATED, [entry])
    dispatch(app, redis)
    [received] = receiver.requests
    assert received.verified_by and received.json["type"] == "suppression.created"
    assert received.json["data"] == {"email": "ann@example.com", "scope": "all", "reason": "complaint",
                                     "source_message_id": None, "enhanced_code": None, "detail": "ARF report",
                                     "created_at": "2026-12-01T10:00:00Z"}
