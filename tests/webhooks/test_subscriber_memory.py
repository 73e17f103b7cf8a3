"""A window of results (several a second in a broadcast) asks whether its tenants have an enabled endpoint at most
once per NO_SUBSCRIBER_SECONDS while they have none; an endpoint created or enabled in this process is seen at
the next window, one enabled by another process within NO_SUBSCRIBER_SECONDS."""

from __future__ import annotations

import time
import uuid
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, func, select

from mailer.models import WebhookEndpoint, WebhookEvent
from mailer.smtp.results import Outcome, RecipientResult
from mailer.webhooks.emitting import NO_SUBSCRIBER_SECONDS
from tests.fixtures import Seeded
from tests.rows import make_messages
from tests.webhooks.receiver import Receiver
from tests.webhooks.rig import subscribe

SENT_EVENTS = select(func.count()).select_from(WebhookEvent).where(WebhookEvent.type == "message.sent")


def _window(app: Flask, rids: list[uuid.UUID]) -> tuple[int, int]:
    """Record a sent result for each of ``rids`` as one window does; returns (message.sent events recorded,
    statements that read webhook endpoints)."""
    from mailer.extensions import atomic, db
    from mailer.mail.leases import claim_recipients
    from mailer.mail.recording import Attempt, record_attempts
    from mailer.models import Recipient

    config = app.config["MAILER"]
    reads: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "FROM webhook_endpoints" in statement:
            reads.append(statement)

    with app.app_context():
        claim = claim_recipients(rids, config.DELIVERY_LEASE_SECONDS)
        attempts = [Attempt(rid, db.session.get(Recipient, rid).tenant_id, 0,
                            RecipientResult(f"user{rid}@example.com", Outcome.SENT, smtp_code=250)) for rid in rids]
        before = db.session.scalar(SENT_EVENTS)
        event.listen(db.engine, "before_cursor_execute", seen)
        try:
            with atomic():
                record_attempts(attempts, claim.token, config)
        finally:
            event.remove(db.engine, "before_cursor_execute", seen)
        after = db.session.scalar(SENT_EVENTS)
    return after - before, len(reads)


def test_a_tenant_without_endpoints_is_asked_once_per_period(app: Flask, acme: Seeded) -> None:
    rids = make_messages(app, 6, tenant_slug="acme")
    assert _window(app, rids[:2]) == (0, 1)
    assert _window(app, rids[2:4]) == (0, 0)  # remembered: no query
    time.sleep(NO_SUBSCRIBER_SECONDS)
    assert _window(app, rids[4:]) == (0, 1)


def test_an_endpoint_created_here_gets_the_next_windows_events(app: Flask, client: FlaskClient, acme: Seeded,
                                                               receiver: Receiver) -> None:
    rids = make_messages(app, 4, tenant_slug="acme")
    assert _window(app, rids[:2])[0] == 0
    subscribe(client, acme, receiver)
    assert _window(app, rids[2:])[0] == 2


def test_an_endpoint_enabled_elsewhere_gets_events_within_the_period(app: Flask, client: FlaskClient, acme: Seeded,
                                                                     receiver: Receiver) -> None:
    from mailer.extensions import db

    created = subscribe(client, acme, receiver)
    with app.app_context():  # switched off and on again by another process: a write this process did not make
        endpoint = db.session.get(WebhookEndpoint, uuid.UUID(created["id"]))
        endpoint.enabled = False
        db.session.commit()
    rids = make_messages(app, 6, tenant_slug="acme")
    assert _window(app, rids[:2])[0] == 0
    with app.app_context():
        db.session.get(WebhookEndpoint, uuid.UUID(created["id"])).enabled = True
        db.session.commit()
    assert _window(app, rids[2:4])[0] == 0  # within the period
    time.sleep(NO_SUBSCRIBER_SECONDS)
    assert _window(app, rids[4:])[0] == 2
