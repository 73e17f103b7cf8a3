"""The outbox rule: rows are committed before anything is enqueued."""

from __future__ import annotations

from sqlalchemy import select

from mailer.models import Message, Recipient
from tests.helpers import bearer, create_tenant, login


def test_redis_down_still_accepts_and_keeps_rows_queued(app_factory, smtp_server):
    """With Redis unreachable the request answers 202 and the recipients stay queued."""
    app = app_factory(REDIS_URL="redis://127.0.0.1:1/0")
    client = app.test_client()
    create_tenant(app)
    token = login(client, "acme", "admin@acme.test")
    response = client.post("/v1/messages", json={"to": ["ann@example.com"], "subject": "s", "text": "x"},
                           headers=bearer(token))
    assert response.status_code == 202
    from mailer.extensions import db

    with app.app_context():
        message = db.session.scalars(select(Message)).one()
        assert str(message.id) == response.get_json()["id"]
        assert [r.status for r in db.session.scalars(select(Recipient))] == ["queued"]
    assert smtp_server.messages == []


def test_job_carries_only_recipient_ids(app, client, redis):
    """What sits in Redis is ids, never an address or a body."""
    create_tenant(app)
    token = login(client, "acme", "admin@acme.test")
    message_id = client.post("/v1/messages", json={"to": ["ann@example.com"], "subject": "secret", "text": "body"},
                             headers=bearer(token)).get_json()["id"]
    dumped = b"".join(redis.dump(key) or b"" for key in redis.keys("rq:job:*"))
    from mailer.extensions import db

    with app.app_context():
        recipient = db.session.scalars(select(Recipient)).one()
        assert str(recipient.message_id) == message_id
        assert str(recipient.id).encode() in dumped
    assert b"ann@example.com" not in dumped and b"secret" not in dumped
