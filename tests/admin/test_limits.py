"""Rate limits and quotas on a real Redis shared by two app instances, keyed by verified identity."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from mailer.errors import QuotaExceededError
from mailer.extensions import atomic, db
from mailer.mail.quota import reserve_recipients
from mailer.models import Tenant, User
from tests.fixtures import add_users, send
from tests.helpers import ADMIN_PASSWORD, bearer, create_tenant, login

WRONG = {"tenant": "acme", "password": "wrong password!"}


def assert_limited(response, code="rate_limited", remaining="0"):
    assert response.status_code == 429, response.get_json()
    assert response.content_type == "application/problem+json"
    assert response.get_json()["code"] == code
    assert int(response.headers["Retry-After"]) > 0
    assert response.headers["X-RateLimit-Remaining"] == remaining
    assert int(response.headers["X-RateLimit-Limit"]) > 0 and int(response.headers["X-RateLimit-Reset"]) > 0


def test_login_limit_per_ip_is_shared_by_two_instances(app_factory):
    settings = {"RATELIMIT_LOGIN_IP": "3/minute", "RATELIMIT_LOGIN_ACCOUNT": "100/minute"}
    first, second = app_factory(**settings), app_factory(**settings)
    create_tenant(first)
    clients = [first.test_client(), second.test_client()]
    for attempt in range(3):
        response = clients[attempt % 2].post("/v1/auth/login", json={**WRONG, "email": f"u{attempt}@acme.test"})
        assert response.status_code == 401
        assert response.headers["X-RateLimit-Limit"] == "3"
    assert_limited(clients[1].post("/v1/auth/login", json={**WRONG, "email": "u9@acme.test"}))
    # Even the right password waits: the address is out of attempts.
    assert_limited(clients[0].post("/v1/auth/login", json={"tenant": "acme", "email": "admin@acme.test",
                                                          "password": ADMIN_PASSWORD}))


def test_login_limit_per_account_whatever_the_address(app_factory):
    """Spread over many client addresses (a trusted proxy says so), one account still gets 2 a minute."""
    app = app_factory(RATELIMIT_LOGIN_ACCOUNT="2/minute", RATELIMIT_LOGIN_IP="100/minute", PROXY_FIX_X_FOR=1)
    create_tenant(app)
    create_tenant(app, "globex", "admin@globex.test")
    client = app.test_client()

    def attempt(n, tenant="acme", email="admin@acme.test"):
        return client.post("/v1/auth/login", json={**WRONG, "tenant": tenant, "email": email},
                           headers={"X-Forwarded-For": f"198.51.100.{n}"})

    assert attempt(1).status_code == 401 and attempt(2).status_code == 401
    assert_limited(attempt(3))
    assert_limited(attempt(4, email="ADMIN@acme.test"))  # the same account, however it is spelled
    assert attempt(5, email="other@acme.test").status_code == 401  # another account is not affected
    assert attempt(6, tenant="globex", email="admin@acme.test").status_code == 401  # nor another tenant's


def test_forwarded_for_is_ignored_unless_a_proxy_is_trusted(app_factory):
    """Without PROXY_FIX_X_FOR a client cannot pick its own rate-limit bucket."""
    app = app_factory(RATELIMIT_LOGIN_IP="2/minute", RATELIMIT_LOGIN_ACCOUNT="100/minute")
    create_tenant(app)
    client = app.test_client()
    for n in range(2):
        response = client.post("/v1/auth/login", json={**WRONG, "email": f"u{n}@acme.test"},
                               headers={"X-Forwarded-For": f"203.0.113.{n}"})
        assert response.status_code == 401
    assert_limited(client.post("/v1/auth/login", json={**WRONG, "email": "u7@acme.test"},
                               headers={"X-Forwarded-For": "203.0.113.77"}))


def test_trusted_proxy_hop_gives_the_client_address(app_factory):
    app = app_factory(PROXY_FIX_X_FOR=1)
    create_tenant(app)
    client = app.test_client()
    token = client.post("/v1/auth/login", json={"tenant": "acme", "email": "admin@acme.test",
                                                "password": ADMIN_PASSWORD},
                        headers={"X-Forwarded-For": "1.2.3.4, 192.0.2.9"}).get_json()["access_token"]
    send(client, bearer(token), to=["a@example.com"])
    event = client.get("/v1/audit-events?action=message.created", headers=bearer(token)).get_json()["items"][0]
    assert event["ip"] == "127.0.0.1"  # the request to /v1/messages came without a forwarded address
    client.post("/v1/messages", json={"to": ["a@example.com"], "subject": "s", "text": "t"},
                headers={**bearer(token), "X-Forwarded-For": "1.2.3.4, 192.0.2.9"})
    event = client.get("/v1/audit-events?action=message.created", headers=bearer(token)).get_json()["items"][0]
    assert event["ip"] == "192.0.2.9"  # one trusted hop: the last address, never the client-chosen first


def test_message_limit_is_per_sender_and_never_spends_another_tenants(app_factory):
    settings = {"RATELIMIT_MESSAGES": "2/minute"}
    first, second = app_factory(**settings), app_factory(**settings)
    ids = create_tenant(first)
    create_tenant(first, "globex", "admin@globex.test")
    add_users(first, ids["tenant_id"], ["user@acme.test"])
    one, two = first.test_client(), second.test_client()
    user = bearer(login(one, "acme", "user@acme.test"))
    admin = bearer(login(one, "acme", "admin@acme.test"))
    other = bearer(login(one, "globex", "admin@globex.test"))
    assert send(one, user).status_code == 202
    assert send(two, user).status_code == 202
    assert_limited(send(one, user))
    assert_limited(send(two, user))
    assert send(two, admin).status_code == 202  # another sender of the same tenant
    assert send(one, other).status_code == 202  # another tenant
    with first.app_context():
        from mailer.extensions import db
        from mailer.models import Message

        assert db.session.scalar(select(func.count()).select_from(Message)) == 4


def test_broadcast_limit_is_per_tenant(app_factory):
    app = app_factory(RATELIMIT_BROADCASTS="1/hour")
    ids = create_tenant(app)
    create_tenant(app, "globex", "admin@globex.test")
    add_users(app, ids["tenant_id"], ["second@acme.test"], role="admin")
    client = app.test_client()
    body = {"subject": "s", "text": "t"}
    admin, second = bearer(login(client, "acme", "admin@acme.test")), bearer(login(client, "acme", "second@acme.test"))
    assert client.post("/v1/broadcasts", json={"subject": "s", "text": "{{ x }}"}, headers=admin).status_code == 422
    assert client.post("/v1/broadcasts", json=body, headers=admin).status_code == 202
    assert_limited(client.post("/v1/broadcasts", json=body, headers=second))
    other = bearer(login(client, "globex", "admin@globex.test"))
    assert client.post("/v1/broadcasts", json=body, headers=other).status_code == 202


def test_daily_recipient_quota(app_factory):
    app = app_factory(TENANT_DAILY_QUOTA=3)
    ids = create_tenant(app)
    create_tenant(app, "globex", "admin@globex.test")
    client = app.test_client()
    acme_seeded = bearer(login(client, "acme", "admin@acme.test"))
    assert send(client, acme_seeded, to=["a@example.com", "b@example.com"]).status_code == 202
    over = send(client, acme_seeded, to=["c@example.com", "d@example.com"])
    assert_limited(over, "quota_exceeded", remaining="1")
    assert over.headers["X-RateLimit-Limit"] == "3" and over.headers.getlist("X-RateLimit-Limit") == ["3"]
    add_users(app, ids["tenant_id"], ["u1@acme.test", "u2@acme.test"])
    broadcast = client.post("/v1/broadcasts", json={"subject": "s", "text": "t"}, headers=acme_seeded)
    assert_limited(broadcast, "quota_exceeded", remaining="1")
    assert send(client, acme_seeded, to=["c@example.com"]).status_code == 202  # exactly up to the quota
    assert_limited(send(client, acme_seeded, to=["e@example.com"]), "quota_exceeded")
    globex_seeded = bearer(login(client, "globex", "admin@globex.test"))
    assert send(client, globex_seeded, to=["a@example.com", "b@example.com", "c@example.com"]).status_code == 202
    assert client.get("/v1/messages", headers=acme_seeded).get_json()["total"] == 2


def test_limits_hold_in_memory_when_the_limiters_redis_is_down(app_factory, caplog):
    app = app_factory(RATELIMIT_STORAGE_URI="redis://127.0.0.1:1/0", RATELIMIT_LOGIN_IP="2/minute")
    create_tenant(app)
    client = app.test_client()
    with caplog.at_level(logging.WARNING):
        for n in range(2):
            assert client.post("/v1/auth/login", json={**WRONG, "email": f"u{n}@acme.test"}).status_code == 401
        assert_limited(client.post("/v1/auth/login", json={**WRONG, "email": "u5@acme.test"}))
        ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["rate_limiter"] == "memory_fallback"
    assert any("in-memory" in r.getMessage() or "in memory" in r.getMessage() for r in caplog.records)


def test_readyz_reports_a_healthy_limiter(client):
    body = client.get("/readyz").get_json()
    assert body["rate_limiter"] == "ok" and body["checks"] == {"database": "ok", "redis": "ok"}


def _counter(app, model, row_id):
    with app.app_context():
        row = db.session.get(model, uuid.UUID(row_id))
        return row.quota_day, row.quota_used


def _set_counter(app, model, row_id, day, used):
    with app.app_context():
        row = db.session.get(model, uuid.UUID(row_id))
        row.quota_day, row.quota_used = day, used
        db.session.commit()


def test_the_daily_quota_keeps_a_counter_and_recounts_on_a_new_day(app_factory):
    """The tenant row counts the day's accepted recipients; a refusal counts nothing; a counter from
    another day is not trusted: the first request of the day counts the day's rows instead."""
    app = app_factory(TENANT_DAILY_QUOTA=3)
    ids = create_tenant(app)
    client = app.test_client()
    admin = bearer(login(client, "acme", "admin@acme.test"))
    today = datetime.now(UTC).date()
    assert send(client, admin, to=["a@example.com", "b@example.com"]).status_code == 202
    assert _counter(app, Tenant, ids["tenant_id"]) == (today, 2)
    assert_limited(send(client, admin, to=["c@example.com", "d@example.com"]), "quota_exceeded", remaining="1")
    assert _counter(app, Tenant, ids["tenant_id"]) == (today, 2)
    _set_counter(app, Tenant, ids["tenant_id"], today - timedelta(days=1), 999)  # yesterday's: recounted
    assert send(client, admin, to=["c@example.com"]).status_code == 202
    assert _counter(app, Tenant, ids["tenant_id"]) == (today, 3)
    assert_limited(send(client, admin, to=["e@example.com"]), "quota_exceeded", remaining="0")


def test_a_users_quota_counter_moves_only_when_both_quotas_let_the_message_through(app_factory):
    app = app_factory(TENANT_DAILY_QUOTA=10, USER_DAILY_QUOTA=3)
    ids = create_tenant(app)
    [user_id] = add_users(app, ids["tenant_id"], ["u1@acme.test"])
    config, today = app.config["MAILER"], datetime.now(UTC).date()
    tenant, user = uuid.UUID(ids["tenant_id"]), uuid.UUID(user_id)
    with app.app_context():
        with atomic():
            reserve_recipients(config, tenant, 2, user_id=user)
        with pytest.raises(QuotaExceededError), atomic():
            reserve_recipients(config, tenant, 2, user_id=user)  # the user's 3 would be passed
        with atomic():
            reserve_recipients(config, tenant, 5)  # an admin or key: the tenant's quota only
    assert _counter(app, User, user_id) == (today, 2)
    assert _counter(app, Tenant, ids["tenant_id"]) == (today, 7)
