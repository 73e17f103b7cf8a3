"""POST /v1/broadcasts with send_at (what the console's "send at a time" uses): scheduled, nothing sent early,
sent once due; the API's 7-day bound; the hourly limit shared with the console's Send."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from tests.fixtures import drain


def _broadcast(client, admin, **extra):
    return client.post("/v1/broadcasts", json={"subject": "Later", "text": "x", "audience": {"roles": ["admin"]},
                                               **extra}, headers=admin)


def test_a_scheduled_broadcast_waits_for_its_time(app, client, acme_seeded, smtp_server, redis):
    from mailer.extensions import db
    from mailer.models import Message, Recipient

    # Far enough ahead that a loaded machine's first request (seconds under load) and drain finish before it.
    at = datetime.now(UTC) + timedelta(seconds=5)
    response = _broadcast(client, acme_seeded.admin, send_at=at.isoformat())
    assert response.status_code == 202, response.get_json()
    assert response.get_json()["status"] == "scheduled"
    drain(app, redis, ("bulk",), scheduled=False)
    assert datetime.now(UTC) < at, "the machine was too slow for this test's margin"
    assert smtp_server.messages == []
    with app.app_context():
        message = db.session.get(Message, uuid.UUID(response.get_json()["id"]))
        [recipient] = db.session.scalars(select(Recipient).where(Recipient.message_id == message.id)).all()
        assert message.status == "scheduled" and recipient.next_attempt_at is not None
    deadline = datetime.now(UTC) + timedelta(seconds=20)
    while not smtp_server.messages and datetime.now(UTC) < deadline:
        drain(app, redis, ("bulk",), scheduled=True)
    assert [m.rcpt_tos for m in smtp_server.messages] == [["admin@acme.test"]]


def test_send_at_more_than_7_days_ahead_is_refused(client, acme_seeded):
    far = (datetime.now(UTC) + timedelta(days=8)).isoformat()
    response = _broadcast(client, acme_seeded.admin, send_at=far)
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["field"] == "send_at"
