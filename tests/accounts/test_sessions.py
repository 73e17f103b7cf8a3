"""Refresh rotation, re-use detection, logout, and identity taken only from the token."""

from __future__ import annotations

from sqlalchemy import select

from mailer.extensions import db
from mailer.models import AuditEvent, RefreshToken, User
from tests.helpers import ADMIN_PASSWORD, bearer, create_tenant, login_pair


def refresh(client, token):
    return client.post("/v1/auth/refresh", json={"refresh_token": token})


def test_refresh_rotates(app, client, acme_ids):
    first = login_pair(client, "admin@acme.test", ADMIN_PASSWORD)
    response = refresh(client, first["refresh_token"])
    assert response.status_code == 200
    second = response.get_json()
    assert set(second) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert second["refresh_token"] != first["refresh_token"]
    assert client.get("/v1/auth/me", headers=bearer(second["access_token"])).status_code == 200
    third = refresh(client, second["refresh_token"])
    assert third.status_code == 200
    with app.app_context():
        families = {row.family for row in db.session.scalars(select(RefreshToken))}
        assert len(families) == 1


def test_reuse_of_a_rotated_refresh_token_revokes_the_family(app, client, acme_ids):
    first = login_pair(client, "admin@acme.test", ADMIN_PASSWORD)
    other_session = login_pair(client, "admin@acme.test", ADMIN_PASSWORD)
    second = refresh(client, first["refresh_token"]).get_json()

    replay = refresh(client, first["refresh_token"])
    assert replay.status_code == 401 and replay.get_json()["code"] == "unauthorized"
    assert replay.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert refresh(client, second["refresh_token"]).status_code == 401  # the thief's copy is dead too
    assert refresh(client, other_session["refresh_token"]).status_code == 200  # other logins live on
    with app.app_context():
        assert db.session.scalars(select(AuditEvent).where(AuditEvent.action == "refresh_token.reused")).all()


def test_refresh_of_unverified_or_disabled_user_is_403(app, client, acme_ids):
    pair = login_pair(client, "admin@acme.test", ADMIN_PASSWORD)
    with app.app_context():
        db.session.scalars(select(User)).one().email_verified_at = None
        db.session.commit()
    response = refresh(client, pair["refresh_token"])
    assert response.status_code == 403 and response.get_json()["code"] == "email_not_verified"
    with app.app_context():
        user = db.session.scalars(select(User)).one()
        user.email_verified_at, user.is_active = user.created_at, False
        db.session.commit()
    response = refresh(client, pair["refresh_token"])
    assert response.status_code == 403 and response.get_json()["code"] == "account_disabled"


def test_refresh_token_is_not_an_access_token_and_vice_versa(app, client, acme_ids):
    pair = login_pair(client, "admin@acme.test", ADMIN_PASSWORD)
    as_access = client.get("/v1/auth/me", headers=bearer(pair["refresh_token"]))
    assert as_access.status_code == 401 and as_access.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    as_refresh = refresh(client, pair["access_token"])
    assert as_refresh.status_code == 401 and as_refresh.get_json()["code"] == "unauthorized"


def test_logout_revokes_the_access_token_and_the_refresh_token(app, client, redis, acme_ids):
    pair = login_pair(client, "admin@acme.test", ADMIN_PASSWORD)
    other = login_pair(client, "admin@acme.test", ADMIN_PASSWORD)
    response = client.post("/v1/auth/logout", json={"refresh_token": pair["refresh_token"]},
                           headers=bearer(pair["access_token"]))
    assert response.status_code == 204 and response.data == b""
    assert client.get("/v1/auth/me", headers=bearer(pair["access_token"])).status_code == 401
    assert refresh(client, pair["refresh_token"]).status_code == 401
    assert client.get("/v1/auth/me", headers=bearer(other["access_token"])).status_code == 200
    ttl = max(redis.ttl(key) for key in redis.scan_iter("mailer:revoked-jti:*"))
    assert 0 < ttl <= 15 * 60 + 1  # kept until the access token would have expired anyway


def test_logout_without_body_and_without_bearer(app, client, acme_ids):
    pair = login_pair(client, "admin@acme.test", ADMIN_PASSWORD)
    assert client.post("/v1/auth/logout").status_code == 401
    assert client.post("/v1/auth/logout", headers=bearer(pair["access_token"])).status_code == 204
    assert client.get("/v1/auth/me", headers=bearer(pair["access_token"])).status_code == 401
    assert refresh(client, pair["refresh_token"]).status_code == 200  # not given, so not revoked


def test_logout_ignores_another_users_refresh_token(app, client, acme_ids):
    create_tenant(app, "beta", "admin@beta.test")
    mine = login_pair(client, "admin@acme.test", ADMIN_PASSWORD)
    theirs = login_pair(client, "admin@beta.test", ADMIN_PASSWORD, tenant="beta")
    response = client.post("/v1/auth/logout", json={"refresh_token": theirs["refresh_token"]},
                           headers=bearer(mine["access_token"]))
    assert response.status_code == 204
    assert refresh(client, theirs["refresh_token"]).status_code == 200


def test_identity_comes_only_from_the_token(app, client, acme_ids):
    """X-Tenant-ID-style headers and query parameters do not change who the caller is."""
    beta = create_tenant(app, "beta", "admin@beta.test")
    token = login_pair(client, "admin@acme.test", ADMIN_PASSWORD)["access_token"]
    me = client.get(f"/v1/auth/me?tenant={beta['tenant_id']}&tenant_id={beta['tenant_id']}",
                    headers={**bearer(token), "X-Tenant-ID": beta["tenant_id"], "X-Tenant": "beta",
                             "X-User-ID": beta["admin_id"], "X-Role": "service"})
    assert me.status_code == 200
    assert me.get_json()["tenant"]["id"] == acme_ids["tenant_id"] and me.get_json()["email"] == "admin@acme.test"
    sneaky = client.post("/v1/auth/logout", json={"tenant_id": beta["tenant_id"], "role": "admin"},
                         headers=bearer(token))
    assert sneaky.status_code == 422  # unknown body fields are refused, never honoured
    assert client.get("/v1/auth/me", headers=bearer(token)).status_code == 200


def test_disabled_user_or_tenant_token_is_rejected(app, client, acme_ids):
    token = login_pair(client, "admin@acme.test", ADMIN_PASSWORD)["access_token"]
    with app.app_context():
        from mailer.models import Tenant

        db.session.scalars(select(Tenant)).one().is_active = False
        db.session.commit()
    assert client.get("/v1/auth/me", headers=bearer(token)).status_code == 401
