"""/console/templates: create, preview in the mail's sandbox (errors with their line), edit, delete with a
confirmation — the rules of /v1/templates."""

from __future__ import annotations

from typing import Any

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from tests.console.admin import (
    acme_headers,
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


def test_a_language_version_is_created_listed_previewed_and_deleted(live_app: Any, acme: Any,
                                                                    browser: Any) -> None:
    """API.md §14: the form's language field makes the zh-CN version of a template, as
    PUT /v1/templates/{name}?locale=zh-CN would; the list shows it; Delete removes only that version."""
    app, base = live_app
    headers = acme_headers(app)
    client = app.test_client()
    assert client.put("/v1/templates/welcome", json={"subject": "Welcome", "text": "Hello"},
                      headers=headers).status_code == 201
    sign_in(browser, base)
    browser.get(f"{base}/console/templates/welcome?locale=zh-CN")
    assert "no 简体中文 version yet" in browser.find_element(By.ID, "version-status").text
    assert browser.find_element(By.ID, "subject").get_attribute("value") == "Welcome"  # starts from the base
    assert Select(browser.find_element(By.ID, "locale")).first_selected_option.get_attribute("value") == "zh-CN"
    check_page(browser)
    fill(browser, subject="欢迎 {{ recipient.email }}", text="你好 {{ plan }}", data='{"plan": "专业版"}')
    _press(browser, "preview")
    assert browser.find_element(By.ID, "preview-subject").text == "欢迎 admin@acme.test"
    assert "你好 专业版" in browser.find_element(By.ID, "preview-text").text
    assert client.get("/v1/templates/welcome?locale=zh-CN", headers=headers).status_code == 404  # not stored
    _press(browser, "save")
    assert "saved" in notice(browser)
    assert "editing the 简体中文 version" in browser.find_element(By.ID, "version-status").text
    stored = client.get("/v1/templates/welcome?locale=zh-CN", headers=headers)
    assert stored.status_code == 200
    assert stored.get_json()["subject"] == "欢迎 {{ recipient.email }}"
    assert stored.get_json()["text"] == "你好 {{ plan }}"
    assert client.get("/v1/templates/welcome", headers=headers).get_json()["subject"] == "Welcome"  # base kept

    browser.get(f"{base}/console/templates")
    row = browser.find_element(By.XPATH, "//tr[td/a[text()='welcome']]")
    assert "简体中文" in row.text
    check_page(browser)
    click(browser, row.find_element(By.LINK_TEXT, "简体中文"))
    assert browser.find_element(By.ID, "subject").get_attribute("value") == "欢迎 {{ recipient.email }}"
    click(browser, browser.find_element(By.LINK_TEXT, "Delete this version"))
    assert h1(browser) == "Delete the 简体中文 version of welcome?"
    check_page(browser)
    click(browser, browser.find_element(By.CSS_SELECTOR, "form[action$='/delete'] button"))
    assert "language version is deleted" in notice(browser)
    assert client.get("/v1/templates/welcome?locale=zh-CN", headers=headers).status_code == 404
    assert client.get("/v1/templates/welcome", headers=headers).get_json()["variants"] == []


def test_a_bad_language_is_refused(live_app: Any, acme: Any, browser: Any) -> None:
    app, base = live_app
    sign_in(browser, base)
    browser.get(f"{base}/console/templates")
    fill(browser, name="news", subject="News", text="Hi")
    browser.execute_script("document.getElementById('locale').options[1].value = 'fr'")
    Select(browser.find_element(By.ID, "locale")).select_by_index(1)
    _press(browser, "save")
    assert "Simplified Chinese" in browser.find_element(By.ID, "locale-error").text
    assert _stored(app) == {}
    assert_not_found(browser, base, "/console/templates/broadcast?locale=fr")
