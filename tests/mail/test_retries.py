"""Results and retries: every attempt is an event; transient failures retry; permanent ones stop."""

from __future__ import annotations

import time

from mailer.extensions import db
from mailer.mail.outbox import requeue
from tests.fixtures import drain, wait_for
from tests.helpers import bearer, login
from tests.rows import events_of, make_messages, recipient_rows


def _drain_until(app, redis, done, timeout=15.0):
    def step():
        drain(app, redis)
        return done()

    return wait_for(step, timeout=timeout, interval=0.2)


def test_451_then_250_is_sent_on_the_retry_with_two_events(deferring_app, redis, sink):
    """A 451 defers with next_attempt_at set; the retry job (RQ scheduler) sends it; two events."""
    sink.handler.rcpt_script["user0@example.com"] = ["451 4.3.0 try later", "250 OK"]
    ids = make_messages(deferring_app, 1)
    with deferring_app.app_context():
        requeue(ids, "default")
    drain(deferring_app, redis)
    [row] = recipient_rows(deferring_app)
    assert row.status == "deferred" and row.attempts == 1 and row.smtp_code == 451
    assert row.next_attempt_at is not None and row.job_id is not None
    assert sink.messages == []

    _drain_until(deferring_app, redis, lambda: recipient_rows(deferring_app)[0].status == "sent")
    [row] = recipient_rows(deferring_app)
    assert row.attempts == 2 and row.smtp_code == 250 and row.sent_at is not None
    assert events_of(deferring_app, row.id) == ["deferred", "sent"]
    assert sink.handler.count("user0@example.com") == 1


def test_retries_exhausted_ends_failed(fast_app, redis, sink):
    """After SMTP_MAX_ATTEMPTS deferrals the recipient fails with retries_exhausted."""
    sink.handler.rcpt_replies["user0@example.com"] = "452 4.2.2 mailbox full"
    ids = make_messages(fast_app, 1)
    with fast_app.app_context():
        requeue(ids, "default")
    _drain_until(fast_app, redis, lambda: recipient_rows(fast_app)[0].status == "failed", timeout=30)
    [row] = recipient_rows(fast_app)
    assert row.error_code == "retries_exhausted"
    assert row.attempts == fast_app.config["MAILER"].SMTP_MAX_ATTEMPTS
    assert events_of(fast_app, row.id) == ["deferred"] * row.attempts
    assert sink.messages == []


def test_permanent_failure_stops_at_once(fast_app, redis, sink):
    """A 550 fails the recipient on the first attempt, and nothing retries it."""
    sink.handler.rcpt_replies["user0@example.com"] = "550 5.1.1 no such user"
    ids = make_messages(fast_app, 1)
    with fast_app.app_context():
        requeue(ids, "default")
    drain(fast_app, redis)
    time.sleep(1.2)
    drain(fast_app, redis)
    [row] = recipient_rows(fast_app)
    assert (row.status, row.error_code, row.attempts, row.smtp_code) == ("failed", "recipient_rejected", 1, 550)
    assert events_of(fast_app, row.id) == ["failed"]


def test_message_status_and_events_through_the_api(deferring_app, redis, sink):
    """GET /v1/messages/{id} rolls the recipients up; the recipient endpoint lists events."""
    sink.handler.rcpt_replies["gone@example.com"] = "550 5.1.1 no such user"
    sink.handler.rcpt_script["slow@example.com"] = ["451 4.3.0 later", "250 OK"]
    client = deferring_app.test_client()
    token = login(client, "acme", "admin@acme.test")
    created = client.post("/v1/messages", headers=bearer(token), json={
        "to": ["ann@example.com", "gone@example.com", "slow@example.com"], "subject": "Hi", "text": "x"})
    assert created.status_code == 202
    message_id = created.get_json()["id"]
    drain(deferring_app, redis)
    body = client.get(f"/v1/messages/{message_id}", headers=bearer(token)).get_json()
    assert body["status"] == "sending"
    assert body["counts"] == {"queued": 0, "sending": 0, "sent": 1, "deferred": 1, "failed": 1, "bounced": 0}
    _drain_until(deferring_app, redis, lambda: client.get(f"/v1/messages/{message_id}", headers=bearer(token))
                 .get_json()["status"] == "partially_failed")
    slow = next(r for r in client.get(f"/v1/messages/{message_id}", headers=bearer(token)).get_json()["recipients"]
                if r["email"] == "slow@example.com")
    detail = client.get(f"/v1/messages/{message_id}/recipients/{slow['id']}", headers=bearer(token)).get_json()
    assert [e["outcome"] for e in detail["events"]] == ["deferred", "sent"]
    assert [e["smtp_code"] for e in detail["events"]] == [451, 250]
    assert detail["status"] == "sent" and detail["message_id"].startswith("<")
    with deferring_app.app_context():
        db.session.remove()
