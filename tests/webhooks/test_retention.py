"""The webhook history is bounded: retention purges finished deliveries, erasure forgets a message's events."""

from __future__ import annotations

import uuid
from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient
from redis import Redis
from sqlalchemy import func, select, update

from tests.fixtures import Drainer, Seeded
from tests.webhooks.receiver import Receiver
from tests.webhooks.rig import dispatch, subscribe


def _count(model: object) -> int:
    from mailer.extensions import db

    return db.session.scalar(select(func.count()).select_from(model)) or 0  # type: ignore[arg-type]


def test_purge_keeps_pending_and_recent_deliveries(app: Flask, client: FlaskClient, acme: Seeded,
                                                   receiver: Receiver, redis: Redis) -> None:
    """An old succeeded delivery goes with its attempts and event; an old pending one and a new one stay."""
    from mailer.extensions import db
    from mailer.models import WebhookAttempt, WebhookDelivery, WebhookEvent
    from mailer.models.types import utcnow
    from mailer.webhooks.retention import purge_webhook_history

    hook = subscribe(client, acme, receiver)
    done = client.post(f"/v1/webhooks/{hook['id']}/test", headers=acme.admin).get_json()
    dispatch(app, redis)
    client.patch(f"/v1/webhooks/{hook['id']}", json={"enabled": False}, headers=acme.admin)
    waiting = client.post(f"/v1/webhooks/{hook['id']}/test", headers=acme.admin).get_json()
    with app.app_context():
        month_ago = utcnow() - timedelta(days=31)
        db.session.execute(update(WebhookDelivery).values(created_at=month_ago))
        db.session.execute(update(WebhookEvent).values(created_at=month_ago))
        db.session.commit()
        assert purge_webhook_history(db.session, utcnow() - timedelta(days=30)) == 1
        db.session.commit()
        assert db.session.get(WebhookDelivery, uuid.UUID(done["delivery_id"])) is None
        assert db.session.get(WebhookDelivery, uuid.UUID(waiting["delivery_id"])) is not None
        assert _count(WebhookAttempt) == 0 and _count(WebhookEvent) == 1


def test_forget_message_events_removes_addresses(app: Flask, client: FlaskClient, acme: Seeded,
                                                 receiver: Receiver, worker: Drainer) -> None:
    """After erasure of a message, no event, delivery or attempt about it is left."""
    from mailer.extensions import db
    from mailer.models import WebhookAttempt, WebhookDelivery, WebhookEvent
    from mailer.webhooks.retention import forget_message_events

    subscribe(client, acme, receiver)
    sent = client.post("/v1/messages", json={"to": ["ann@example.com"], "subject": "Hi", "text": "Hello"},
                       headers=acme.admin).get_json()
    worker()
    assert len(receiver.requests) == 1
    with app.app_context():
        assert forget_message_events(db.session, [uuid.UUID(sent["id"])]) == 1
        db.session.commit()
        assert _count(WebhookEvent) == _count(WebhookDelivery) == _count(WebhookAttempt) == 0


def test_the_daily_purge_drops_old_events_without_a_message(app: Flask, client: FlaskClient, acme: Seeded,
                                                            receiver: Receiver, redis: Redis) -> None:
    """A manual suppression's `suppression.created` event names the address and has no message: the purge
    (`flask purge`, daily) removes it once past MESSAGE_RETENTION_DAYS and delivered (review N6)."""
    from mailer.extensions import db
    from mailer.models import WebhookDelivery, WebhookEvent
    from mailer.models.types import utcnow

    subscribe(client, acme, receiver, events=["suppression.created"])
    assert client.post("/v1/suppressions", json={"email": "ann@example.com"}, headers=acme.admin).status_code == 201
    dispatch(app, redis)
    with app.app_context():
        assert [e.subject_id for e in db.session.scalars(select(WebhookEvent))] == [None]
        old = utcnow() - timedelta(days=app.config["MAILER"].MESSAGE_RETENTION_DAYS + 1)
        db.session.execute(update(WebhookDelivery).values(created_at=old))
        db.session.execute(update(WebhookEvent).values(created_at=old))
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["purge"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert _count(WebhookEvent) == 0 and _count(WebhookDelivery) == 0
