"""Limit keys follow what the service treats as one mailbox or one client; the per-user quota keeps a
self-registered user from spending the tenant's day; an admin can close sign-up."""

from __future__ import annotations

import pytest

from tests.helpers import PASSWORD, bearer, create_tenant, login, login_pair, sign_up

FORGOT = "/v1/auth/forgot-password"


def test_address_variants_share_one_per_address_bucket(app_factory):
    """Full-width, upper-case and IDN spellings of one mailbox are one bucket (the service folds them)."""
    app = app_factory(RATELIMIT_ACCOUNT_MAIL_ADDRESS="2/hour", RATELIMIT_ACCOUNT_MAIL_IP="100/hour")
    create_tenant(app)
    client = app.test_client()
    for email in ("victim@example.com", "VICTIM@Example.COM"):
        assert client.post(FORGOT, json={"tenant": "acme", "email": email}).status_code == 202
    variant = client.post(FORGOT, json={"tenant": "acme", "email": "victim@\uff45xample.com"})
    assert variant.status_code == 429 and variant.get_json()["code"] == "rate_limited"
    assert client.post(FORGOT, json={"tenant": "acme", "email": "other@example.com"}).status_code == 202


def test_ipv6_clients_are_limited_per_64(app_factory):
    """Every address of one /64 spends one per-IP bucket; another /64 has its own."""
    app = app_factory(RATELIMIT_ACCOUNT_MAIL_IP="2/hour", RATELIMIT_ACCOUNT_MAIL_ADDRESS="100/hour")
    create_tenant(app)
    client = app.test_client()

    def forgot(ip: str, n: int) -> int:
        return client.post(FORGOT, json={"tenant": "acme", "email": f"u{n}@example.com"},
                           environ_overrides={"REMOTE_ADDR": ip}).status_code

    assert forgot("2001:db8:1:2::1", 1) == 202
    assert forgot("2001:db8:1:2:ffff:ffff:ffff:fffe", 2) == 202
    assert forgot("2001:db8:1:2:abcd::9", 3) == 429
    assert forgot("2001:db8:1:3::1", 4) == 202


def test_a_users_daily_quota_stops_them_but_not_the_tenant(app_factory, worker, smtp_server):
    """A self-registered user gets USER_DAILY_QUOTA recipients a day; the tenant's admin and keys go on."""
    app = app_factory(USER_DAILY_QUOTA=3, TENANT_DAILY_QUOTA=100)
    create_tenant(app)
    client = app.test_client()
    from tests.fixtures import Drainer

    drain = Drainer(app, worker.redis)
    sign_up(client, drain, smtp_server, "mallory@example.com")
    user = bearer(login_pair(client, "mallory@example.com", PASSWORD)["access_token"])
    first = client.post("/v1/messages", json={"to": ["a@example.com", "b@example.com", "c@example.com"],
                                              "subject": "s", "text": "t"}, headers=user)
    assert first.status_code == 202, first.get_json()
    over = client.post("/v1/messages", json={"to": ["d@example.com"], "subject": "s", "text": "t"}, headers=user)
    assert over.status_code == 429 and over.get_json()["code"] == "quota_exceeded"
    assert over.headers["X-RateLimit-Limit"] == "3" and int(over.headers["Retry-After"]) > 0
    admin = bearer(login(client, "acme", "admin@acme.test"))
    key = client.post("/v1/api-keys", json={"name": "integration"}, headers=admin).get_json()["key"]
    for headers in (admin, bearer(key)):
        response = client.post("/v1/messages", json={"to": ["e@example.com"], "subject": "s", "text": "t"},
                               headers=headers)
        assert response.status_code == 202, response.get_json()


def test_an_admin_can_close_and_reopen_sign_up(client, admin):
    """signup_enabled false: register answers 403 signup_disabled; GET /v1/tenant shows the switch."""
    assert client.get("/v1/tenant", headers=admin).get_json()["signup_enabled"] is True
    closed = client.patch("/v1/tenant", json={"signup_enabled": False}, headers=admin)
    assert closed.status_code == 200 and closed.get_json()["signup_enabled"] is False
    refused = client.post("/v1/auth/register", json={"tenant": "acme", "email": "x@example.com",
                                                     "password": PASSWORD})
    assert refused.status_code == 403 and refused.get_json()["code"] == "signup_disabled"
    assert client.get("/v1/tenant", headers=admin).get_json()["signup_enabled"] is False
    assert client.patch("/v1/tenant", json={"signup_enabled": True}, headers=admin).status_code == 200
    assert client.post("/v1/auth/register", json={"tenant": "acme", "email": "x@example.com",
                                                  "password": PASSWORD}).status_code == 202


@pytest.mark.parametrize("patch", [{"signup_enabled": None}, {"name": "Acme\x01"}, {"name": "Acme\u2028Inc"}])
def test_bad_tenant_patches_are_422(client, admin, patch):
    """No null switch; no control character or line separator in the name every account mail's subject holds."""
    response = client.patch("/v1/tenant", json=patch, headers=admin)
    assert response.status_code == 422, response.get_json()
