"""/console/templates: create, preview in the mail's sandbox (errors with their line), edit, delete with a
confirmation — the rules of /v1/templates."""

from __future__ import annotations

from typing import Any

from selenium.webdriver.common.by import By

from tests.console.admin import (
    assert_admin_only,
    assert_not_found,
    check_page,
    click,
    fill,
    globex,
    h1,
    notice,
    post_forged,
    sign_in,
)


def _press(browser: Any, action: str) -> None:
    """The form's Preview or Save button."""
    click(browser, browser.find_element(By.CSS_SELECTOR, f"button[name=action][value={action}]"))


def _stored(app: Any) -> dict[str, str]:
    from sqlalchemy import select

    from mailer.extensions import db
    from mailer.models import Template

    with app.app_context():
        return {row.name: row.subject for row in db.session.scalars(select(Template))}


def test_create_preview_edit_and_delete(live_app: Any, acme: Any, browser: Any) -> None:
    app, base = live_app
    sign_in(browser, base)
    browser.get(f"{base}/console/templates")
    assert h1(browser) == "Templates"
    assert "broadcast" in browser.find_element(By.TAG_NAME, "table").text  # the built-in ones too
    check_page(browser)
    fill(browser, name="welcome", subject="Hello {{ recipient.email }}",
         text="Line one\n{{ data.plan }\n", data='{"plan": "Pro"}')
    _press(browser, "preview")
    error = browser.find_element(By.ID, "text-error").text
    assert "text, line 2" in error and "Correct it" in error
    assert _stored(app) == {}
    check_page(browser)
    fill(browser, text="Line one\nYour plan: {{ plan }}\n", html="<p>{{ recipient.email }}</p>")
    _press(browser, "preview")
    assert browser.find_element(By.ID, "preview-subject").text == "Hello admin@acme.test"
    assert "Your plan: Pro" in browser.find_element(By.ID, "preview-text").text
    assert browser.find_element(By.CSS_SELECTOR, "iframe.preview").get_attribute("sandbox") == ""
    check_page(browser)
    assert _stored(app) == {}  # a preview stores nothing
    _press(browser, "save")
    assert "saved" in notice(browser) and h1(browser) == "Template welcome"
    assert _stored(app) == {"welcome": "Hello {{ recipient.email }}"}
    fill(browser, subject="Welcome, {{ recipient.name }}")
    _press(browser, "save")
    assert _stored(app) == {"welcome": "Welcome, {{ recipient.name }}"}
    click(browser, browser.find_element(By.LINK_TEXT, "Delete it"))
    assert h1(browser) == "Delete the template welcome?"
    check_page(browser)
    click(browser, browser.find_element(By.CSS_SELECTOR, "form[action$='/delete'] button"))
    assert "deleted" in notice(browser)
    assert _stored(app) == {}


def test_without_csrf_nothing_is_saved(live_app: Any, acme: Any, browser: Any) -> None:
    app, base = live_app
    sign_in(browser, base)
    post_forged(browser, base, "/console/templates", "/console/templates", name="forged", subject="x", text="y")
    assert _stored(app) == {}


def test_another_tenants_template_is_not_found_and_a_user_is_refused(live_app: Any, acme: Any,
                                                                     browser: Any) -> None:
    app, base = live_app
    other = globex(app)
    put = app.test_client().put("/v1/templates/theirs", json={"subject": "s", "text": "t"}, headers=other["headers"])
    assert put.status_code == 201
    sign_in(browser, base)
    assert_not_found(browser, base, "/console/templates/theirs")
    assert_not_found(browser, base, "/console/templates/theirs/delete")
    assert_admin_only(browser, base, "/console/templates")
