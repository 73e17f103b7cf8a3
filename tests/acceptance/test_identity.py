"""API.md §2 Identity: token claims and lifetimes, auth answers, tenant administration bodies, audit."""

from __future__ import annotations

import jwt

from tests.conftest import JWT_TEST_KEY
from tests.fixtures import make_api_key
from tests.helpers import ADMIN_PASSWORD, bearer

CLAIMS = {"iss", "aud", "sub", "tid", "role", "typ", "jti", "iat", "nbf", "exp", "ver"}


def test_access_and_refresh_tokens_carry_the_contract_claims_and_lifetimes(client, acme):
    response = client.post("/v1/auth/login", json={"tenant": "acme", "email": acme.admin_email,
                                                   "password": ADMIN_PASSWORD})
    pair = response.get_json()
    assert set(pair) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert pair["token_type"] == "Bearer" and pair["expires_in"] == 15 * 60
    assert jwt.get_unverified_header(pair["access_token"])["alg"] == "HS256"
    access = jwt.decode(pair["access_token"], JWT_TEST_KEY, algorithms=["HS256"], audience="mailer-api",
                        issuer="mailer")
    assert set(access) >= CLAIMS
    assert access["typ"] == "access" and access["sub"] == acme.admin_id and access["tid"] == acme.tenant_id
    assert access["role"] == "admin" and isinstance(access["ver"], int)
    assert access["exp"] - access["iat"] == 15 * 60 and access["nbf"] <= access["iat"] + 1
    refresh = jwt.decode(pair["refresh_token"], JWT_TEST_KEY, algorithms=["HS256"], audience="mailer-api",
                         issuer="mailer")
    assert set(refresh) >= CLAIMS
    assert refresh["typ"] == "refresh" and refresh["exp"] - refresh["iat"] == 30 * 24 * 3600
    assert refresh["jti"] != access["jti"]


def test_refresh_answers_a_new_pair_and_the_old_refresh_token_is_spent(client, acme):
    pair = client.post("/v1/auth/login", json={"tenant": "acme", "email": acme.admin_email,
                                               "password": ADMIN_PASSWORD}).get_json()
    fresh = client.post("/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert fresh.status_code == 200
    assert set(fresh.get_json()) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert fresh.get_json()["refresh_token"] != pair["refresh_token"]
    replay = client.post("/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert replay.status_code == 401
    # re-use of a rotated token revokes its whole family, the new one included
    assert client.post("/v1/auth/refresh", json={"refresh_token": fresh.get_json()["refresh_token"]}).status_code == 401


def test_me_has_exactly_the_contract_members(client, acme):
    me = client.get("/v1/auth/me", headers=acme.user)
    assert me.status_code == 200
    assert me.get_json() == {
        "id": acme.user_id, "email": acme.user_email, "name": "Uma User", "role": "user", "email_verified": True,
        "locale": "en",
        "tenant": {"id": acme.tenant_id, "slug": "acme", "name": "Acme"},
    }


def test_uniform_auth_answers(client, acme):
    register = client.post("/v1/auth/register", json={"tenant": "acme", "email": acme.user_email,
                                                      "password": "another password"})
    assert register.status_code == 202 and register.get_json() == {"status": "verification_sent"}
    for path, expected in (("/v1/auth/resend-verification", {"status": "verification_sent"}),
                           ("/v1/auth/forgot-password", {"status": "reset_requested"})):
        for tenant, email in (("acme", acme.user_email), ("acme", "nobody@example.com"), ("nope", "x@example.com")):
            response = client.post(path, json={"tenant": tenant, "email": email})
            assert response.status_code == 202 and response.get_json() == expected, (path, tenant, email)
    unknown_tenant = client.post("/v1/auth/register", json={"tenant": "nope", "email": "a@example.com",
                                                            "password": "long enough"})
    assert unknown_tenant.status_code == 422 and unknown_tenant.get_json()["errors"][0]["field"] == "tenant"


def test_password_length_is_8_to_128(client, acme):
    def register(password):
        return client.post("/v1/auth/register", json={"tenant": "acme", "email": "p@example.com",
                                                      "password": password}).status_code

    assert register("x" * 7) == 422 and register("x" * 129) == 422
    assert register("x" * 8) == 202 and register("x" * 128) == 202


def test_bad_action_tokens_are_400_invalid_token(client):
    for path, body in (("/v1/auth/verify-email", {"token": "A" * 43}),
                       ("/v1/auth/reset-password", {"token": "A" * 43, "password": "long enough"})):
        response = client.post(path, json=body)
        assert response.status_code == 400 and response.get_json()["code"] == "invalid_token"


def test_tenant_answer_has_the_contract_members(client, acme):
    tenant = client.get("/v1/tenant", headers=acme.admin).get_json()
    # signup_enabled: API.md §5; retention_days: §11; default_locale and branding: §14
    assert set(tenant) == {"id", "slug", "name", "frontend_url", "mail_from", "mail_from_name", "signup_enabled",
                           "retention_days", "default_locale", "brand_color", "logo_url", "postal_address"}
    assert tenant["id"] == acme.tenant_id and tenant["mail_from"] == "news@acme.test"
    patched = client.patch("/v1/tenant", json={"name": "Acme Inc", "frontend_url": "https://app.acme.test",
                                               "mail_from": "hello@acme.test", "mail_from_name": "Acme"},
                           headers=acme.admin)
    assert patched.status_code == 200
    assert patched.get_json() == {**tenant, "name": "Acme Inc", "frontend_url": "https://app.acme.test",
                                  "mail_from": "hello@acme.test", "mail_from_name": "Acme"}
    for bad in ({"frontend_url": "javascript:alert(1)"}, {"frontend_url": "ftp://acme.test"},
                {"mail_from": "not an address"}):
        assert client.patch("/v1/tenant", json=bad, headers=acme.admin).status_code == 422


def test_api_keys_201_shows_the_key_once_and_the_list_holds_no_secret(client, acme):
    created = make_api_key(client, acme.admin, "deploy")
    assert {"id", "name", "key"} <= set(created) and created["name"] == "deploy"
    [listed] = client.get("/v1/api-keys", headers=acme.admin).get_json()["items"]
    assert listed["id"] == created["id"] and "key" not in listed
    assert created["key"] not in str(listed)
    assert client.get("/v1/messages", headers=bearer(created["key"])).status_code == 200
    assert client.delete(f"/v1/api-keys/{created['id']}", headers=acme.admin).status_code == 204
    assert client.get("/v1/messages", headers=bearer(created["key"])).status_code == 401


def test_audit_events_have_the_contract_members_and_filter_by_action(client, acme):
    key = make_api_key(client, acme.admin)
    client.delete(f"/v1/api-keys/{key['id']}", headers=acme.admin)
    client.patch(f"/v1/users/{acme.user_id}", json={"role": "admin"}, headers=acme.admin)
    client.put("/v1/templates/welcome", json={"subject": "s", "text": "t"}, headers=acme.admin)
    client.post("/v1/auth/login", json={"tenant": "acme", "email": acme.admin_email, "password": "wrong password"})
    events = client.get("/v1/audit-events?per_page=100", headers=acme.admin).get_json()["items"]
    actions = {e["action"] for e in events}
    assert {"login.succeeded", "login.failed", "api_key.created", "api_key.revoked", "user.changed",
            "template.changed"} <= actions
    assert all({"id", "action", "actor_id", "ip", "at", "details"} <= set(e) for e in events)
    revoked = client.get("/v1/audit-events?action=api_key.revoked", headers=acme.admin).get_json()["items"]
    assert [e["action"] for e in revoked] == ["api_key.revoked"]
    assert key["key"] not in str(events) and ADMIN_PASSWORD not in str(events)
