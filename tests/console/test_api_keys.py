"""/console/api-keys: create (shown once), list, revoke; the key works against the API until revoked."""

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
    stored,
    submit,
)


def _keys(app: Any) -> list[Any]:
    from mailer.models import ApiKey

    return stored(app, ApiKey.name, ApiKey.revoked_at)


def test_create_use_and_revoke_a_key(live_app: Any, acme: Any, browser: Any, caplog: Any) -> None:
    app, base = live_app
    sign_in(browser, base)
    browser.get(f"{base}/console/api-keys")
    assert h1(browser) == "API keys"
    check_page(browser)
    fill(browser, name="CI deploys")
    submit(browser, "/console/api-keys")
    secret = browser.find_element(By.ID, "new-key").text
    assert secret and "shown once" in notice(browser)
    check_page(browser)
    assert secret not in caplog.text  # never in logs
    client = app.test_client()
    mail = {"to": ["ann@example.com"], "subject": "Hi", "text": "Hello"}
    sent = client.post("/v1/messages", json=mail, headers={"Authorization": f"Bearer {secret}"})
    assert sent.status_code == 202, sent.get_json()
    browser.get(f"{base}/console/api-keys")
    assert secret not in browser.page_source  # never again
    assert "CI deploys" in browser.find_element(By.TAG_NAME, "table").text
    click(browser, browser.find_element(By.CSS_SELECTOR, "form[action$='/revoke'] button"))
    assert "revoked" in notice(browser)
    assert client.post("/v1/messages", json=mail, headers={"Authorization": f"Bearer {secret}"}).status_code == 401
    with app.app_context():
        from sqlalchemy import select

        from mailer.extensions import db
        from mailer.models import AuditEvent

        actions = list(db.session.scalars(select(AuditEvent.action).where(AuditEvent.action.like("api_key.%"))))
        details = str(list(db.session.scalars(select(AuditEvent.details))))
    assert actions == ["api_key.created", "api_key.revoked"]
    assert secret not in details


def test_a_name_too_long_is_explained(live_app: Any, acme: Any, browser: Any) -> None:
    app, base = live_app
    sign_in(browser, base)
    browser.get(f"{base}/console/api-keys")
    browser.execute_script("document.getElementById('name').removeAttribute('maxlength')")
    fill(browser, name="x" * 101)
    submit(browser, "/console/api-keys")
    assert "1 to 100 characters" in browser.find_element(By.ID, "name-error").text
    assert _keys(app) == []


def test_without_csrf_nothing_is_created(live_app: Any, acme: Any, browser: Any) -> None:
    app, base = live_app
    sign_in(browser, base)
    post_forged(browser, base, "/console/api-keys", "/console/api-keys", name="forged")
    assert _keys(app) == []


def test_another_tenants_key_is_not_found_and_a_user_is_refused(live_app: Any, acme: Any, browser: Any) -> None:
    app, base = live_app
    other = globex(app)
    created = app.test_client().post("/v1/api-keys", json={"name": "theirs"}, headers=other["headers"]).get_json()
    sign_in(browser, base)
    browser.get(f"{base}/console/api-keys")
    fill(browser, name="mine")
    browser.execute_script("document.querySelector('form[action$=\"/console/api-keys\"]').action ="
                           f" '/console/api-keys/{created['id']}/revoke'")
    submit(browser, "/revoke")
    assert h1(browser).startswith("Page not found")
    assert [name for name, revoked in _keys(app) if revoked is None] == ["theirs"]
    assert_not_found(browser, base, "/console/api-keys/nope")
    assert_admin_only(browser, base, "/console/api-keys")
