"""A person's language (users.locale) and the tenant's default language and branding over the API (API.md §2, §14)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from mailer.extensions import db
from mailer.models import User
from tests.helpers import PASSWORD, register
from tests.i18n.conftest import set_tenant


def _problem(response, field: str) -> None:
    assert response.status_code == 422, response.get_json()
    assert response.headers["Content-Type"] == "application/problem+json"
    body = response.get_json()
    assert body["code"] == "validation_error"
    assert any(error["field"] == field for error in body["errors"]), body


def test_me_shows_and_changes_the_locale(client, acme_seeded):
    """GET /v1/auth/me shows `locale` (the tenant's default until chosen); PATCH changes it and the name."""
    me = client.get("/v1/auth/me", headers=acme_seeded.user).get_json()
    assert me["locale"] == "en"
    patched = client.patch("/v1/auth/me", json={"locale": "zh-CN"}, headers=acme_seeded.user)
    assert patched.status_code == 200, patched.get_json()
    assert patched.get_json()["locale"] == "zh-CN" and patched.get_json()["name"] == "Uma User"
    assert client.get("/v1/auth/me", headers=acme_seeded.user).get_json()["locale"] == "zh-CN"
    renamed = client.patch("/v1/auth/me", json={"name": "Uma U."}, headers=acme_seeded.user).get_json()
    assert renamed["name"] == "Uma U." and renamed["locale"] == "zh-CN"
    events = client.get("/v1/audit-events?action=user.changed", headers=acme_seeded.admin).get_json()["items"]
    assert len(events) == 2 and events[0]["details"]["user_id"] == acme_seeded.user_id


@pytest.mark.parametrize("value", ["zh", "zh-cn", "fr", "EN", "", None, 5, "zh_CN"])
def test_me_refuses_any_other_locale(client, acme_seeded, value):
    """Only `en` and `zh-CN` exactly (422 problem+json otherwise); nothing changes."""
    _problem(client.patch("/v1/auth/me", json={"locale": value}, headers=acme_seeded.user), "locale")
    assert client.get("/v1/auth/me", headers=acme_seeded.user).get_json()["locale"] == "en"


def test_me_refuses_unknown_fields_and_needs_a_person(client, acme_seeded):
    _problem(client.patch("/v1/auth/me", json={"role": "admin"}, headers=acme_seeded.user), "role")
    assert client.patch("/v1/auth/me", json={"locale": "en"}).status_code == 401


def _registered_locale(app, email: str) -> str | None:
    with app.app_context():
        return db.session.scalars(select(User.locale).where(User.email == email)).first()


def test_registration_sets_the_locale(app, client, worker, acme_seeded):
    """`locale` in the body, else Accept-Language when it names a supported language, else the tenant default."""
    assert register(client, "body@example.com", locale="zh-CN").status_code == 202
    assert client.post("/v1/auth/register", json={"tenant": "acme", "email": "header@example.com",
                                                  "password": PASSWORD},
                       headers={"Accept-Language": "fr-FR, zh-Hans;q=0.8, en;q=0.5"}).status_code == 202
    assert client.post("/v1/auth/register", json={"tenant": "acme", "email": "other@example.com",
                                                  "password": PASSWORD},
                       headers={"Accept-Language": "fr-FR, de;q=0.5"}).status_code == 202
    worker()
    assert _registered_locale(app, "body@example.com") == "zh-CN"
    assert _registered_locale(app, "header@example.com") == "zh-CN"
    assert _registered_locale(app, "other@example.com") == "en"

    set_tenant(client, acme_seeded.admin, default_locale="zh-CN")
    assert register(client, "plain@example.com").status_code == 202
    assert register(client, "english@example.com", locale="en").status_code == 202
    worker()
    assert _registered_locale(app, "plain@example.com") == "zh-CN"
    assert _registered_locale(app, "english@example.com") == "en"
    _problem(register(client, "bad@example.com", locale="de"), "locale")


def test_tenant_language_and_branding(client, acme_seeded):
    """GET/PATCH /v1/tenant: default_locale, brand_color (#rrggbb), logo_url (https), postal_address."""
    tenant = client.get("/v1/tenant", headers=acme_seeded.admin).get_json()
    assert (tenant["default_locale"], tenant["brand_color"], tenant["logo_url"], tenant["postal_address"]) == \
        ("en", None, None, None)
    changed = set_tenant(client, acme_seeded.admin, default_locale="zh-CN", brand_color="#AA3300",
                         logo_url="https://cdn.acme.test/logo.png", postal_address="Acme Inc.\n1 Main St\nSpringfield")
    assert changed["default_locale"] == "zh-CN" and changed["brand_color"] == "#AA3300"
    assert changed["logo_url"] == "https://cdn.acme.test/logo.png"
    assert changed["postal_address"] == "Acme Inc.\n1 Main St\nSpringfield"
    assert client.get("/v1/tenant", headers=acme_seeded.admin).get_json() == changed
    cleared = set_tenant(client, acme_seeded.admin, brand_color=None, logo_url=None, postal_address=None)
    assert (cleared["brand_color"], cleared["logo_url"], cleared["postal_address"]) == (None, None, None)


@pytest.mark.parametrize(("field", "value"), [
    ("default_locale", "fr"), ("default_locale", "zh"), ("brand_color", "red"), ("brand_color", "#abc"),
    ("brand_color", "#12345g"), ("brand_color", "#1234567"), ("logo_url", "http://cdn.acme.test/logo.png"),
    ("logo_url", "javascript:alert(1)"), ("logo_url", "https://cdn.acme.test/a\"onerror=x.png"),
    ("logo_url", "https://"), ("postal_address", "line\x07bell"), ("postal_address", "x" * 501),
])
def test_tenant_branding_is_validated(client, acme_seeded, field, value):
    _problem(client.patch("/v1/tenant", json={field: value}, headers=acme_seeded.admin), field)


def test_only_admins_change_branding(client, acme_seeded):
    response = client.patch("/v1/tenant", json={"brand_color": "#000000"}, headers=acme_seeded.user)
    assert response.status_code == 403
