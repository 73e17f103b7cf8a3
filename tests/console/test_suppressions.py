"""/console/suppressions: add, search, remove (audited), the feedback service's rules."""

from __future__ import annotations

from typing import Any

from selenium.webdriver.common.by import By

from tests.console.admin import (
    assert_admin_only,
    assert_not_found,
    check_page,
    click,
    fill,
    form,
    globex,
    h1,
    notice,
    post_forged,
    sign_in,
    stored,
    submit,
)


def _entries(app: Any) -> list[tuple[str, str]]:
    from mailer.models import Suppression

    return stored(app, Suppression.email, Suppression.scope)


def test_add_search_and_remove(live_app: Any, acme: Any, browser: Any) -> None:
    app, base = live_app
    sign_in(browser, base)
    browser.get(f"{base}/console/suppressions")
    assert h1(browser) == "Suppressions"
    check_page(browser)
    fill(browser, email="Bob@Example.com")
    browser.find_element(By.CSS_SELECTOR, "#scope option[value=broadcast]").click()
    submit(browser, "/console/suppressions")
    assert "is suppressed" in notice(browser), browser.find_element(By.TAG_NAME, "main").text
    fill(browser, email="ann@example.com")
    submit(browser, "/console/suppressions")
    assert _entries(app) == [("ann@example.com", "all"), ("bob@example.com", "broadcast")]
    browser.get(f"{base}/console/suppressions?email=bob%40example.com")
    rows = browser.find_elements(By.CSS_SELECTOR, "tbody tr")
    assert len(rows) == 1 and "Broadcasts only" in rows[0].text
    check_page(browser)
    click(browser, rows[0].find_element(By.CSS_SELECTOR, "button"))
    assert "no longer suppressed" in notice(browser)
    assert _entries(app) == [("ann@example.com", "all")]
    fill(browser, email="not an address")
    browser.execute_script("arguments[0].noValidate = true", form(browser, "/console/suppressions"))
    submit(browser, "/console/suppressions")
    assert "valid email address" in browser.find_element(By.ID, "email-error").text
    with app.app_context():
        from sqlalchemy import select

        from mailer.extensions import db
        from mailer.models import AuditEvent

        assert "suppression.deleted" in db.session.scalars(select(AuditEvent.action)).all()


def test_without_csrf_nothing_is_added(live_app: Any, acme: Any, browser: Any) -> None:
    app, base = live_app
    sign_in(browser, base)
    post_forged(browser, base, "/console/suppressions", "/console/suppressions", email="eve@example.com")
    assert _entries(app) == []


def test_another_tenants_entry_is_not_found_and_a_user_is_refused(live_app: Any, acme: Any, browser: Any) -> None:
    app, base = live_app
    other = globex(app)
    client = app.test_client()
    assert client.post("/v1/suppressions", json={"email": "x@example.com"}, headers=other["headers"]).status_code == 201
    sign_in(browser, base)
    browser.get(f"{base}/console/suppressions")
    assert "x@example.com" not in browser.find_element(By.TAG_NAME, "main").text
    fill(browser, email="x@example.com")
    browser.execute_script("arguments[0].action = '/console/suppressions/remove'",
                           form(browser, "/console/suppressions"))
    submit(browser, "/console/suppressions/remove")
    assert h1(browser).startswith("Page not found")
    assert _entries(app) == [("x@example.com", "all")]
    assert_not_found(browser, base, "/console/suppressions/x@example.com")
    assert_admin_only(browser, base, "/console/suppressions")
