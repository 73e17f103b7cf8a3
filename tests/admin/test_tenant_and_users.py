"""GET/PATCH /v1/tenant, GET /v1/users, PATCH /v1/users/{id}: admin only, this tenant only."""

from __future__ import annotations

from typing import get_args

from mailer.models import PersonRole, Role
from tests.fixtures import add_users, make_api_key
from tests.helpers import bearer, login


def test_admin_reads_and_updates_the_tenant(client, acme_seeded):
    """PATCH changes only the given fields and the answer is the whole tenant."""
    body = client.get("/v1/tenant", headers=acme_seeded.admin).get_json()
    assert body == {"id": acme_seeded.tenant_id, "slug": "acme", "name": "Acme", "frontend_url": None,
                    "mail_from": "news@acme.test", "mail_from_name": None, "signup_enabled": True,
                    "retention_days": 30, "default_locale": "en", "brand_color": None, "logo_url": None,
                    "postal_address": None}
    response = client.patch("/v1/tenant", json={"name": "Acme Inc", "frontend_url": "https://app.acme.test/",
                                                "mail_from": "Hello@Acme.test", "mail_from_name": "Acme"},
                            headers=acme_seeded.admin)
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {**body, "name": "Acme Inc", "frontend_url": "https://app.acme.test",
                                   "mail_from": "Hello@acme.test", "mail_from_name": "Acme"}
    assert client.get("/v1/tenant", headers=acme_seeded.admin).get_json()["name"] == "Acme Inc"


def test_tenant_patch_validates_every_field(client, acme_seeded):
    for body, field in [
        ({"frontend_url": "javascript:alert(1)"}, "frontend_url"),
        ({"frontend_url": "ftp://files.acme.test"}, "frontend_url"),
        ({"mail_from": "not an address"}, "mail_from"),
        ({"mail_from_name": "Acme\r\nBcc: x@evil.test"}, "mail_from_name"),
        ({"slug": "other"}, "slug"),
        ({"is_active": False}, "is_active"),
        ({"name": None}, "name"),
    ]:
        response = client.patch("/v1/tenant", json=body, headers=acme_seeded.admin)
        assert response.status_code == 422, body
        assert response.get_json()["errors"][0]["field"] == field
    assert client.get("/v1/tenant", headers=acme_seeded.admin).get_json()["slug"] == "acme"


def test_roles_below_admin_cannot_administer(client, acme_seeded):
    """A user and a service key get 403 on every admin route."""
    service = bearer(make_api_key(client, acme_seeded.admin)["key"])
    for headers in (acme_seeded.user, service):
        assert client.get("/v1/tenant", headers=headers).status_code == 403
        assert client.patch("/v1/tenant", json={"name": "x"}, headers=headers).status_code == 403
        assert client.get("/v1/users", headers=headers).status_code == 403
        assert (
            client.patch(f"/v1/users/{acme_seeded.user_id}", json={"role": "admin"}, headers=headers).status_code == 403
        )
        assert client.get("/v1/api-keys", headers=headers).status_code == 403
        assert client.post("/v1/api-keys", json={"name": "x"}, headers=headers).status_code == 403
        assert client.get("/v1/audit-events", headers=headers).status_code == 403
    assert client.get("/v1/users").status_code == 401


def test_user_list_is_the_tenants_only(app, client, acme_seeded, globex_seeded):
    add_users(app, globex_seeded.tenant_id, [f"g{i}@globex.test" for i in range(3)])
    body = client.get("/v1/users?per_page=1", headers=acme_seeded.admin).get_json()
    assert body["total"] == 2 and body["per_page"] == 1 and len(body["items"]) == 1
    everyone = client.get("/v1/users", headers=acme_seeded.admin).get_json()["items"]
    assert {u["email"] for u in everyone} == {"admin@acme.test", "user@acme.test"}
    assert set(everyone[0]) == {"id", "email", "name", "role", "is_active", "email_verified", "created_at"}
    assert client.get("/v1/users", headers=globex_seeded.admin).get_json()["total"] == 5


def test_disabling_a_user_kills_their_tokens_at_once(client, acme_seeded):
    assert client.get("/v1/auth/me", headers=acme_seeded.user).status_code == 200
    response = client.patch(f"/v1/users/{acme_seeded.user_id}", json={"is_active": False}, headers=acme_seeded.admin)
    assert response.status_code == 200 and response.get_json()["is_active"] is False
    assert client.get("/v1/auth/me", headers=acme_seeded.user).status_code == 401
    login_again = client.post("/v1/auth/login", json={"tenant": "acme", "email": acme_seeded.user_email,
                                                      "password": "correct horse battery staple"})
    assert login_again.status_code == 403 and login_again.get_json()["code"] == "account_disabled"


def test_role_change_takes_effect_at_once_and_is_audited(client, acme_seeded):
    assert client.get("/v1/users", headers=acme_seeded.user).status_code == 403
    response = client.patch(f"/v1/users/{acme_seeded.user_id}", json={"role": "admin"}, headers=acme_seeded.admin)
    assert response.status_code == 200 and response.get_json()["role"] == "admin"
    # The old token carried role "user": it is void, a new login gets the new role.
    assert client.get("/v1/users", headers=acme_seeded.user).status_code == 401
    promoted = bearer(login(client, "acme", acme_seeded.user_email))
    assert client.get("/v1/users", headers=promoted).status_code == 200
    events = client.get("/v1/audit-events?action=user.changed", headers=acme_seeded.admin).get_json()["items"]
    assert events[0]["details"] == {"user_id": acme_seeded.user_id, "before": {"role": "user", "is_active": True},
                                    "after": {"role": "admin", "is_active": True}}
    assert events[0]["actor_id"] == acme_seeded.admin_id


def test_the_last_admin_cannot_demote_or_disable_themselves(client, acme_seeded):
    for body in ({"role": "user"}, {"is_active": False}):
        response = client.patch(f"/v1/users/{acme_seeded.admin_id}", json=body, headers=acme_seeded.admin)
        assert response.status_code == 422, body
    client.patch(f"/v1/users/{acme_seeded.user_id}", json={"role": "admin"}, headers=acme_seeded.admin)
    assert (
        client.patch(f"/v1/users/{acme_seeded.admin_id}", json={"role": "user"}, headers=acme_seeded.admin).status_code
        == 200
    )


def test_user_patch_refuses_unknown_roles_and_fields(client, acme_seeded):
    for body in ({"role": "service"}, {"role": "owner"}, {"email": "x@acme.test"}, {"tenant_id": "x"},
                 {"token_version": 9}):
        assert (
            client.patch(f"/v1/users/{acme_seeded.user_id}", json=body, headers=acme_seeded.admin).status_code == 422
        ), body


def test_a_person_holds_any_role_but_an_api_keys():
    """The roles the schemas accept for a person (PersonRole) are Role's, less SERVICE."""
    assert set(get_args(PersonRole)) == set(Role) - {Role.SERVICE}
