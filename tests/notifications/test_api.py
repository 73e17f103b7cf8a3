"""Idempotency-Key, send_at scheduling and GET /v1/stats, through the HTTP API."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from mailer.extensions import db
from mailer.models import IdempotencyKey, Message
from tests.fixtures import drain, wait_for
from tests.helpers import bearer, create_tenant, login

BODY = {"to": ["ann@example.com"], "subject": "Receipt", "text": "Thanks"}


def _count_messages(app):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Message))


def test_same_key_same_body_replays_the_first_response(fast_app):
    client = fast_app.test_client()
    headers = {**bearer(login(client, "acme", "admin@acme.test")), "Idempotency-Key": "order-42"}
    first = client.post("/v1/messages", json=BODY, headers=headers)
    again = client.post("/v1/messages", json=dict(reversed(list(BODY.items()))), headers=headers)
    assert first.status_code == again.status_code == 202
    assert again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert _count_messages(fast_app) == 1


def test_same_key_different_body_is_409(fast_app):
    client = fast_app.test_client()
    headers = {**bearer(login(client, "acme", "admin@acme.test")), "Idempotency-Key": "order-42"}
    assert client.post("/v1/messages", json=BODY, headers=headers).status_code == 202
    conflict = client.post("/v1/messages", json={**BODY, "text": "Other"}, headers=headers)
    assert conflict.status_code == 409
    assert conflict.get_json()["code"] == "idempotency_conflict"
    assert conflict.content_type == "application/problem+json"
    assert _count_messages(fast_app) == 1


def test_keys_are_per_tenant_and_expire_after_a_day(fast_app):
    create_tenant(fast_app, "globex", "boss@globex.test")
    client = fast_app.test_client()
    acme = {**bearer(login(client, "acme", "admin@acme.test")), "Idempotency-Key": "k1"}
    globex = {**bearer(login(client, "globex", "boss@globex.test")), "Idempotency-Key": "k1"}
    first = client.post("/v1/messages", json=BODY, headers=acme).get_json()
    other = client.post("/v1/messages", json=BODY, headers=globex).get_json()
    assert first["id"] != other["id"]
    with fast_app.app_context():
        for row in db.session.scalars(select(IdempotencyKey)):
            row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
        db.session.commit()
    fresh = client.post("/v1/messages", json=BODY, headers=acme).get_json()
    assert fresh["id"] != first["id"]
    assert _count_messages(fast_app) == 3


def test_an_expired_key_is_replaced_only_together_with_a_new_message(fast_app):
    """Looking an expired key up changes nothing; a refused request keeps it; the next stored message takes it over."""
    client = fast_app.test_client()
    headers = {**bearer(login(client, "acme", "admin@acme.test")), "Idempotency-Key": "k2"}
    first = client.post("/v1/messages", json=BODY, headers=headers).get_json()
    with fast_app.app_context():
        db.session.scalars(select(IdempotencyKey)).one().expires_at = datetime.now(UTC) - timedelta(seconds=1)
        db.session.commit()
    refused = client.post("/v1/messages", json={**BODY, "to": ["not an address"]}, headers=headers)
    assert refused.status_code == 422
    with fast_app.app_context():
        assert str(db.session.scalars(select(IdempotencyKey)).one().message_id) == first["id"]
    fresh = client.post("/v1/messages", json=BODY, headers=headers).get_json()
    with fast_app.app_context():
        assert str(db.session.scalars(select(IdempotencyKey)).one().message_id) == fresh["id"] != first["id"]


def test_malformed_key_is_422(fast_app):
    client = fast_app.test_client()
    headers = {**bearer(login(client, "acme", "admin@acme.test")), "Idempotency-Key": "x" * 300}
    response = client.post("/v1/messages", json=BODY, headers=headers)
    assert response.status_code == 422 and response.get_json()["errors"][0]["field"] == "Idempotency-Key"


def test_concurrent_duplicates_create_one_message(app_factory, sink):
    """Eight simultaneous requests with one key (two app instances): one message, everyone gets its id."""
    from tests.fixtures import FAST

    apps = [app_factory(**FAST, SMTP_PORT=sink.port) for _ in range(2)]
    create_tenant(apps[0])
    token = login(apps[0].test_client(), "acme", "admin@acme.test")
    headers = {**bearer(token), "Idempotency-Key": "race"}
    barrier = threading.Barrier(8)
    answers = []

    def post(app):
        client = app.test_client()
        barrier.wait()
        response = client.post("/v1/messages", json=BODY, headers=headers)
        answers.append((response.status_code, response.get_json()["id"]))

    threads = [threading.Thread(target=post, args=(apps[i % 2],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {code for code, _ in answers} == {202}
    assert len({mid for _, mid in answers}) == 1
    assert _count_messages(apps[0]) == 1


def test_scheduled_message_waits_then_is_sent_by_the_scheduler(fast_app, redis, sink):
    """send_at: status scheduled, nothing sent before the time, sent after it (RQ scheduler)."""
    client = fast_app.test_client()
    token = login(client, "acme", "admin@acme.test")
    send_at = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
    created = client.post("/v1/messages", json={**BODY, "send_at": send_at}, headers=bearer(token))
    assert created.status_code == 202 and created.get_json()["status"] == "scheduled"
    message_id = created.get_json()["id"]
    drain(fast_app, redis)
    assert sink.messages == []
    assert client.get(f"/v1/messages/{message_id}", headers=bearer(token)).get_json()["status"] == "scheduled"

    def sent():
        drain(fast_app, redis)
        return sink.messages

    wait_for(sent, timeout=10, interval=0.2)
    [arrival] = sink.handler.arrivals.values()  # recorded by the sink when the DATA arrived
    assert arrival >= datetime.fromisoformat(send_at).timestamp()
    assert client.get(f"/v1/messages/{message_id}", headers=bearer(token)).get_json()["status"] == "sent"


def test_send_at_more_than_7_days_ahead_is_422(fast_app):
    client = fast_app.test_client()
    token = login(client, "acme", "admin@acme.test")
    too_late = (datetime.now(UTC) + timedelta(days=8)).isoformat()
    response = client.post("/v1/messages", json={**BODY, "send_at": too_late}, headers=bearer(token))
    assert response.status_code == 422
    assert response.get_json()["errors"] == [{"field": "send_at", "message": "at most 7 days ahead"}]
    assert _count_messages(fast_app) == 0


def test_stats_count_the_tenants_deliveries_by_status(fast_app, redis, sink):
    sink.handler.rcpt_replies["gone@example.com"] = "550 5.1.1 no such user"
    create_tenant(fast_app, "globex", "boss@globex.test")
    client = fast_app.test_client()
    token = login(client, "acme", "admin@acme.test")
    other = login(client, "globex", "boss@globex.test")
    client.post("/v1/messages", json={**BODY, "to": ["ann@example.com", "gone@example.com"]}, headers=bearer(token))
    client.post("/v1/messages", json=BODY, headers=bearer(other))
    drain(fast_app, redis)
    stats = client.get("/v1/stats", headers=bearer(token)).get_json()
    for window in ("last_24h", "last_30d"):
        assert stats[window]["sent"] == 1 and stats[window]["failed"] == 1 and stats[window]["total"] == 2
        assert stats[window]["messages"]["partially_failed"] == 1 and stats[window]["messages"]["total"] == 1
    assert client.get("/v1/stats").status_code == 401
