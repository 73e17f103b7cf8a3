"""N9: a batch has a request-level limit, is refused before parsing when no item could be accepted, and
holds the tenant's row lock (the quota's) only for its inserts, not while it composes."""

from __future__ import annotations

from sqlalchemy import event

from mailer.extensions import db
from tests.helpers import bearer, create_tenant, login

VALID = {"to": ["ann@example.com"], "subject": "Receipt", "text": "Thanks"}


def _admin(app):
    create_tenant(app)
    return bearer(login(app.test_client(), "acme", "admin@acme.test"))


def test_batches_have_a_request_level_limit(app_factory, sink):
    app = app_factory(SMTP_PORT=sink.port, RATELIMIT_BATCHES="2/minute", RATELIMIT_MESSAGES="1000/minute")
    headers = _admin(app)
    client = app.test_client()
    codes = [client.post("/v1/messages/batch", json={"messages": [VALID]}, headers=headers).status_code
             for _ in range(3)]
    assert codes == [200, 200, 429]


def test_a_batch_is_refused_unparsed_when_the_message_rate_is_spent(app_factory, sink):
    """With nothing left of RATELIMIT_MESSAGES, even a body that is not JSON is answered 429, not parsed."""
    app = app_factory(SMTP_PORT=sink.port, RATELIMIT_MESSAGES="1/minute")
    headers = _admin(app)
    client = app.test_client()
    assert client.post("/v1/messages", json=VALID, headers=headers).status_code == 202
    response = client.post("/v1/messages/batch", data="{" * 100_000, headers=headers,
                           content_type="application/json")
    assert response.status_code == 429, response.get_json()
    assert response.get_json()["code"] == "rate_limited"


def test_every_item_is_composed_before_the_tenant_lock_is_taken(app_factory, sink):
    """The statements run in order: every item's template lookup, then the quota's locking read of the tenant."""
    app = app_factory(SMTP_PORT=sink.port, RATELIMIT_MESSAGES="1000/minute")
    headers = _admin(app)
    client = app.test_client()
    assert client.put("/v1/templates/receipt", json={"subject": "R", "text": "Hi {{ n }}"},
                      headers=headers).status_code in (200, 201)
    item = {"to": ["ann@example.com"], "template": "receipt", "data": {"n": 1}}
    statements: list[str] = []

    def record(conn, cursor, statement, *args):
        statements.append(" ".join(statement.split()).lower())

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        response = client.post("/v1/messages/batch", json={"messages": [item] * 4}, headers=headers)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert [i["status"] for i in response.get_json()["items"]] == [202] * 4
    lookups = [i for i, s in enumerate(statements) if "from templates" in s]
    locks = [i for i, s in enumerate(statements) if s.startswith("select tenants.quota_day, tenants.quota_used")]
    assert lookups and locks
    assert max(lookups) < min(locks), (lookups, locks)
