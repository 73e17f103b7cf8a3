"""/console/settings: the tenant (PATCH /v1/tenant's rules, §10's sender rule) and its relay with its test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from selenium.webdriver.common.by import By

from tests.browser import served
from tests.console.admin import assert_admin_only, check_page, fill, h1, notice, post_forged, sign_in, submit


@pytest.fixture
def live_app(app_factory: Any, browser: Any) -> Iterator[Any]:
    """The relay test talks to this test's loopback SMTP server: private relays allowed here."""
    browser.execute_cdp_cmd("Network.clearBrowserCookies", {})
    with served(app_factory, RELAY_ALLOW_PRIVATE=True, MAIL_FROM="no-reply@mailer.test") as live:
        yield live


def _tenant(app: Any) -> dict[str, Any]:
    from sqlalchemy import select

    from mailer.extensions import db
    from mailer.models import Tenant, TenantRelay

    with app.app_context():
        tenant = db.session.scalars(select(Tenant).where(Tenant.slug == "acme")).one()
        relay = db.session.get(TenantRelay, tenant.id)
        return {"name": tenant.name, "mail_from": tenant.mail_from, "retention_days": tenant.retention_days,
                "signup_enabled": tenant.signup_enabled, "relay": (relay.host, relay.port) if relay else None}


def test_change_the_organization(live_app: Any, acme: Any, browser: Any) -> None:
    app, base = live_app
    sign_in(browser, base)
    browser.get(f"{base}/console/settings")
    assert h1(browser) == "Settings"
    assert "mailer.test" in browser.find_element(By.ID, "mail_from-hint").text
    check_page(browser)
    fill(browser, name="Acme Corp", mail_from="news@elsewhere.example", retention_days="7")
    submit(browser, "/console/settings")
    assert "verified sending domains" in browser.find_element(By.ID, "mail_from-error").text
    assert _tenant(app)["name"] == "Acme"  # nothing of a refused form is kept
    check_page(browser)
    fill(browser, mail_from="news@mailer.test")
    browser.find_element(By.ID, "signup_enabled").click()
    submit(browser, "/console/settings")
    assert "settings are saved" in notice(browser)
    assert _tenant(app) == {"name": "Acme Corp", "mail_from": "news@mailer.test", "retention_days": 7,
                            "signup_enabled": False, "relay": None}
    with app.app_context():
        from sqlalchemy import select

        from mailer.extensions import db
        from mailer.models import AuditEvent

        [details] = db.session.scalars(select(AuditEvent.details).where(AuditEvent.action == "tenant.changed"))
    assert details["fields"] == ["mail_from", "name", "retention_days", "signup_enabled"]


def test_the_relay_and_its_test(live_app: Any, acme: Any, browser: Any, smtp_server: Any) -> None:
    app, base = live_app
    sign_in(browser, base)
    browser.get(f"{base}/console/settings")
    fill(browser, host=smtp_server.host, port=str(smtp_server.port), **{"relay-password": "secret pw"})
    browser.find_element(By.CSS_SELECTOR, "#encryption option[value=none]").click()
    submit(browser, "/console/settings/relay")
    assert "needs a username" in browser.find_element(By.ID, "password-error").text
    assert "secret pw" not in browser.page_source
    browser.find_element(By.CSS_SELECTOR, "#encryption option[value=none]").click()
    submit(browser, "/console/settings/relay")
    assert "relay is saved" in notice(browser)
    assert _tenant(app)["relay"] == (smtp_server.host, smtp_server.port)
    submit(browser, "/console/settings/relay/test")
    assert "The relay works" in notice(browser)
    assert "connect" in browser.find_element(By.TAG_NAME, "table").text
    check_page(browser)
    submit(browser, "/console/settings/relay/remove")
    assert _tenant(app)["relay"] is None


def test_without_csrf_nothing_changes_and_a_user_is_refused(live_app: Any, acme: Any, browser: Any) -> None:
    app, base = live_app
    sign_in(browser, base)
    post_forged(browser, base, "/console/settings", "/console/settings", name="Forged")
    assert _tenant(app)["name"] == "Acme"
    assert_admin_only(browser, base, "/console/settings")


def test_language_and_branding(live_app: Any, acme: Any, browser: Any) -> None:
    """API.md §14's fields through PATCH /v1/tenant's service: what the console saves, GET /v1/tenant shows;
    a bad colour is explained next to its field and nothing of the form is kept."""
    from selenium.webdriver.support.ui import Select

    from tests.console.admin import acme_headers

    app, base = live_app
    sign_in(browser, base)
    browser.get(f"{base}/console/settings")
    Select(browser.find_element(By.ID, "default_locale")).select_by_value("zh-CN")
    fill(browser, brand_color="red", logo_url="https://cdn.acme.example/logo.png",
         postal_address="Acme Inc.\n1 Main Street")
    submit(browser, "/console/settings")
    assert "#1a73e8" in browser.find_element(By.ID, "brand_color-error").text
    assert browser.find_element(By.ID, "brand_color").get_attribute("aria-invalid") == "true"
    assert browser.find_element(By.ID, "logo_url").get_attribute("value") == "https://cdn.acme.example/logo.png"
    check_page(browser)

    def tenant() -> dict[str, Any]:
        answer = app.test_client().get("/v1/tenant", headers=acme_headers(app))
        assert answer.status_code == 200
        body = answer.get_json()
        return {k: body[k] for k in ("default_locale", "brand_color", "logo_url", "postal_address")}

    assert tenant() == {"default_locale": "en", "brand_color": None, "logo_url": None, "postal_address": None}
    fill(browser, brand_color="#1A73e8")
    submit(browser, "/console/settings")
    assert "settings are saved" in notice(browser)
    assert tenant() == {"default_locale": "zh-CN", "brand_color": "#1A73e8",
                        "logo_url": "https://cdn.acme.example/logo.png", "postal_address": "Acme Inc.\n1 Main Street"}
    assert Select(browser.find_element(By.ID, "default_locale")).first_selected_option.get_attribute("value") == "zh-CN"
    fill(browser, logo_url="http://cdn.acme.example/logo.png")
    submit(browser, "/console/settings")
    assert "https://" in browser.find_element(By.ID, "logo_url-error").text
    assert tenant()["logo_url"] == "https://cdn.acme.example/logo.png"
