"""POST /v1/messages/batch (API.md §11): per-item answers, one key, per-message limits, one transaction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, func, select

from mailer.extensions import db
from mailer.models import AuditEvent, DeliveryEvent, Message, Recipient, Tenant
from tests.fixtures import drain
from tests.helpers import bearer, create_tenant, login

VALID = {"to": ["ann@example.com"], "subject": "Receipt", "text": "Thanks"}


def _headers(app, **extra):
    return {**bearer(login(app.test_client(), "acme", "admin@acme.test")), **extra}


def _count(app, model=Message):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def test_valid_and_invalid_items_are_answered_one_by_one(fast_app, sink, redis):
    """Each item gets its own 202 or problem; only the valid ones are stored and delivered."""
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    messages = [
        VALID,
        {"to": ["not an address"], "subject": "x", "text": "y"},
        {"to": ["bob@example.com"], "template": "no-such-template"},
        {"to": ["cat@example.com"], "subject": "Later", "text": "z", "send_at": later},
        {"to": ["dan@example.com"], "subject": "x", "text": "y", "colour": "red"},
        "not an object",
    ]
    response = fast_app.test_client().post("/v1/messages/batch", json={"messages": messages},
                                           headers=_headers(fast_app))
    assert response.status_code == 200
    items = response.get_json()["items"]
    assert [item["index"] for item in items] == list(range(6))
    assert [item["status"] for item in items] == [202, 422, 422, 202, 422, 422]
    assert items[0]["recipients"] == [{"email": "ann@example.com", "status": "queued"}]
    assert items[1]["error"]["code"] == "validation_error"
    assert items[1]["error"]["errors"][0]["field"] == "to[0]"
    assert items[2]["error"]["errors"][0]["field"] == "template"
    assert items[4]["error"]["errors"][0]["field"] == "colour"
    assert _count(fast_app) == 2
    drain(fast_app, redis)
    assert [m.rcpt_tos for m in sink.messages] == [["ann@example.com"]]  # the scheduled one waits
    detail = fast_app.test_client().get(f"/v1/messages/{items[3]['id']}", headers=_headers(fast_app)).get_json()
    assert detail["status"] == "scheduled"


def test_the_same_batch_replayed_with_its_key_is_answered_again_not_sent_again(fast_app, sink, redis):
    """One Idempotency-Key covers the batch: the same body replays the answer, another body is 409."""
    headers = _headers(fast_app, **{"Idempotency-Key": "batch-1"})
    body = {"messages": [VALID, {"to": ["bad"], "subject": "x", "text": "y"}, {**VALID, "to": ["bob@example.com"]}]}
    client = fast_app.test_client()
    first = client.post("/v1/messages/batch", json=body, headers=headers)
    again = client.post("/v1/messages/batch", json=body, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert _count(fast_app) == 2
    conflict = client.post("/v1/messages/batch", json={"messages": [VALID]}, headers=headers)
    assert conflict.status_code == 409
    assert conflict.get_json()["code"] == "idempotency_conflict"
    drain(fast_app, redis)
    assert sorted(m.rcpt_tos[0] for m in sink.messages) == ["ann@example.com", "bob@example.com"]


def test_rate_limit_is_spent_per_message_from_the_single_send_bucket(app_factory, sink):
    """RATELIMIT_MESSAGES counts each batch item, and a single POST /v1/messages shares what is left."""
    app = app_factory(SMTP_PORT=sink.port, RATELIMIT_MESSAGES="3/minute")
    create_tenant(app)
    headers = _headers(app)
    client = app.test_client()
    items = client.post("/v1/messages/batch", json={"messages": [VALID] * 5}, headers=headers).get_json()["items"]
    assert [item["status"] for item in items] == [202, 202, 202, 429, 429]
    assert items[3]["error"]["code"] == "rate_limited"
    assert client.post("/v1/messages", json=VALID, headers=headers).status_code == 429
    assert _count(app) == 3


def test_daily_quota_is_counted_per_message_within_the_batch(app_factory, sink):
    """An item that would pass TENANT_DAILY_QUOTA is refused; smaller items after it still fit."""
    app = app_factory(SMTP_PORT=sink.port, TENANT_DAILY_QUOTA=3)
    create_tenant(app)
    two = {**VALID, "to": ["a@example.com", "b@example.com"]}
    response = app.test_client().post("/v1/messages/batch", json={"messages": [two, two, VALID]},
                                      headers=_headers(app))
    assert response.status_code == 200
    # A refused item's quota headers are not the batch's: these are the batch's own (RATELIMIT_BATCHES).
    assert response.headers.get("X-RateLimit-Limit") == "10"
    items = response.get_json()["items"]
    assert [item["status"] for item in items] == [202, 429, 202]
    assert items[1]["error"]["code"] == "quota_exceeded"
    assert _count(app) == 2


def test_an_item_over_the_quota_is_undone_alone_and_the_chain_stays_whole(app_factory, sink, redis):
    """Item 2 of 3 passes the quota after its rows are written (a single send's order): its savepoint undoes
    them, its suppressed recipient's event included; items 1 and 3 keep their rows, their chained audit events
    verify, one keyed answer is stored and their mail goes out."""
    app = app_factory(SMTP_PORT=sink.port, TENANT_DAILY_QUOTA=3)
    create_tenant(app)
    headers = _headers(app, **{"Idempotency-Key": "quota-batch"})
    client = app.test_client()
    assert client.post("/v1/suppressions", json={"email": "gone@example.com", "reason": "manual"},
                       headers=headers).status_code == 201
    over = {**VALID, "to": ["gone@example.com", "b@example.com", "c@example.com"]}
    body = {"messages": [VALID, over, {**VALID, "to": ["dan@example.com", "eve@example.com"]}]}
    response = client.post("/v1/messages/batch", json=body, headers=headers)
    assert response.status_code == 200
    items = response.get_json()["items"]
    assert [item["status"] for item in items] == [202, 429, 202]
    assert items[1]["error"]["code"] == "quota_exceeded"
    with app.app_context():
        stored = dict(db.session.execute(
            select(Message.id, func.count(Recipient.id)).join(Recipient).group_by(Message.id)).tuples().all())
        assert {str(k): v for k, v in stored.items()} == {items[0]["id"]: 1, items[2]["id"]: 2}
        assert db.session.scalar(select(func.count()).select_from(DeliveryEvent)) == 0
        assert db.session.scalar(select(Tenant.quota_used)) == 3
        created = db.session.execute(select(AuditEvent.seq, AuditEvent.details).where(
            AuditEvent.action == "message.created").order_by(AuditEvent.seq)).all()
    assert [details["message_id"] for _, details in created] == [items[0]["id"], items[2]["id"]]
    assert created[1].seq == created[0].seq + 1
    verified = app.test_cli_runner().invoke(args=["audit", "verify", "acme"])
    assert verified.exit_code == 0, verified.output
    again = client.post("/v1/messages/batch", json=body, headers=headers)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == response.get_json()
    drain(app, redis)
    assert sorted(to for m in sink.messages for to in m.rcpt_tos) == ["ann@example.com", "dan@example.com",
                                                                     "eve@example.com"]


def test_a_batch_whose_commit_fails_stores_none_of_its_items(app_factory, sink, redis):
    """The items' savepoints end inside the batch's one transaction: when its commit fails no item's rows
    stay, on SQLite too (where the first savepoint's RELEASE must not be the commit). A quota applies: the
    items run in savepoints."""
    app = app_factory(SMTP_PORT=sink.port, TENANT_DAILY_QUOTA=100)
    create_tenant(app)
    headers = _headers(app)
    with app.app_context():
        engine = db.engine
    fail = lambda conn: (_ for _ in ()).throw(RuntimeError("commit refused"))  # noqa: E731
    event.listen(engine, "commit", fail)
    try:
        response = app.test_client().post("/v1/messages/batch", json={"messages": [VALID, VALID]}, headers=headers)
    finally:
        event.remove(engine, "commit", fail)
    assert response.status_code == 500
    assert _count(app) == 0
    drain(app, redis)
    assert sink.messages == []


def test_a_batch_commits_once_and_audits_every_message(app_factory, sink):
    """200 messages: one transaction for the rows (their job ids are in the INSERTs), not 200."""
    fast_app = app_factory(SMTP_PORT=sink.port, RATELIMIT_MESSAGES="1000/minute")
    create_tenant(fast_app)
    headers = _headers(fast_app)
    messages = [{**VALID, "to": [f"user{i}@example.com"]} for i in range(200)]
    commits = []
    with fast_app.app_context():
        engine = db.engine
    listener = lambda conn: commits.append(1)  # noqa: E731
    event.listen(engine, "commit", listener)
    try:
        response = fast_app.test_client().post("/v1/messages/batch", json={"messages": messages}, headers=headers)
    finally:
        event.remove(engine, "commit", listener)
    assert response.status_code == 200
    assert all(item["status"] == 202 for item in response.get_json()["items"])
    batch_size = fast_app.config["MAILER"].DELIVERY_BATCH_SIZE
    assert len(commits) <= 1 + -(-200 // batch_size)
    assert _count(fast_app) == 200
    with fast_app.app_context():
        created = db.session.scalar(select(func.count()).where(AuditEvent.action == "message.created"))
    assert created == 200


@pytest.mark.parametrize("count", [0, 501])
def test_an_empty_or_oversized_batch_is_refused_whole(fast_app, count):
    """1 to 500 messages per batch; otherwise 422 on `messages` and nothing stored."""
    response = fast_app.test_client().post("/v1/messages/batch", json={"messages": [VALID] * count},
                                           headers=_headers(fast_app))
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["field"] == "messages"
    assert _count(fast_app) == 0


def test_redis_down_still_accepts_the_batch_and_the_sweeper_delivers_it_later(app_factory, sink, redis):
    """Queues and limiter unreachable: items still 202 (rate counted in memory), rows committed and queued;
    once Redis is back, a sweep enqueues them and they are delivered."""
    down = app_factory(SMTP_PORT=sink.port, REDIS_URL="redis://127.0.0.1:1/0",
                       RATELIMIT_STORAGE_URI="redis://127.0.0.1:1/0", RATELIMIT_MESSAGES="2/minute")
    create_tenant(down)
    messages = [{**VALID, "to": [f"user{i}@example.com"]} for i in range(3)]
    response = down.test_client().post("/v1/messages/batch", json={"messages": messages}, headers=_headers(down))
    assert response.status_code == 200
    assert [item["status"] for item in response.get_json()["items"]] == [202, 202, 429]
    up = app_factory(SMTP_PORT=sink.port)
    assert up.test_cli_runner().invoke(args=["sweep"]).exit_code == 0
    drain(up, redis)
    assert sorted(m.rcpt_tos[0] for m in sink.messages) == ["user0@example.com", "user1@example.com"]
