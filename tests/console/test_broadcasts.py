"""/console/broadcasts: a broadcast made in the console (preview, send) reaches every audience member at the
sink; its counts update while the page is open; send at a time; the API's checks and limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.console.admin import (
    acme_headers,
    assert_admin_only,
    assert_not_found,
    check_page,
    click,
    fill,
    globex,
    h1,
    sign_in,
    submit_forged,
)
from tests.console.conftest import add_user
from tests.fixtures import drain


def _send(browser: Any) -> None:
    click(browser, browser.find_element(By.CSS_SELECTOR, "button[formaction$='/console/broadcasts']"))


def _preview(browser: Any) -> None:
    click(browser, browser.find_element(By.CSS_SELECTOR, "form[action$='/console/broadcasts/new'] button.secondary"))


def _broadcasts(app: Any) -> list[tuple[str, str]]:
    from sqlalchemy import select

    from mailer.extensions import db
    from mailer.models import Message

    with app.app_context():
        return list(db.session.execute(select(Message.subject, Message.status)).tuples())


def test_a_broadcast_reaches_every_member_and_its_counts_update(live_app: Any, acme: Any, browser: Any,
                                                               smtp_server: Any, redis: Any) -> None:
    app, base = live_app
    add_user(app, "acme", "late@acme.test", verified=False)
    sign_in(browser, base)
    browser.get(f"{base}/console/broadcasts")
    assert h1(browser) == "Broadcasts"
    check_page(browser)
    click(browser, browser.find_element(By.LINK_TEXT, "New broadcast"))
    check_page(browser)
    fill(browser, subject="News for {{ recipient.email }}", text="Hello {{ recipient.email }}, {{ data.what }}",
         data='{"what": "we moved"}')
    _preview(browser)
    assert browser.find_element(By.ID, "preview-subject").text == "News for admin@acme.test"
    assert "Hello admin@acme.test, we moved" in browser.find_element(By.ID, "preview-text").text
    check_page(browser)
    assert _broadcasts(app) == []  # a preview stores nothing
    _send(browser)
    assert "/console/broadcasts/" in browser.current_url
    assert browser.find_element(By.CSS_SELECTOR, "[data-count=queued]").text == "2"
    check_page(browser)
    drain(app, redis, ("bulk",), scheduled=False)
    # The page's script fetches the counts and the status: they change without a reload (the status once the
    # roll-up after the last delivery committed).
    WebDriverWait(browser, 15).until(
        lambda b: (b.find_element(By.CSS_SELECTOR, "[data-count=sent]").text,
                   b.find_element(By.CSS_SELECTOR, "[data-status]").text) == ("2", "Sent"))
    assert sorted(rcpt for m in smtp_server.messages for rcpt in m.rcpt_tos) == ["admin@acme.test",
                                                                                 "user@acme.test"]
    assert {m.data.split(b"Subject: ", 1)[1].split(b"\r\n", 1)[0] for m in smtp_server.messages} == {
        b"News for admin@acme.test", b"News for user@acme.test"}
    browser.get(f"{base}/console/broadcasts")
    assert "News for" in browser.find_element(By.TAG_NAME, "tbody").text


def test_errors_in_words_and_sending_at_a_time(live_app: Any, acme: Any, browser: Any) -> None:
    app, base = live_app
    sign_in(browser, base)
    browser.get(f"{base}/console/broadcasts/new")
    browser.find_element(By.ID, "role-user").click()  # admins only
    fill(browser, subject="Hi {{ recipient.nickname }}", text="x")
    _preview(browser)
    assert "subject" in browser.find_element(By.ID, "subject-error").text
    browser.find_element(By.ID, "role-admin").click()
    fill(browser, subject="Hi", data="[1, 2]")
    _send(browser)
    assert "Choose at least one role" in browser.find_element(By.ID, "roles-error").text
    browser.find_element(By.ID, "role-admin").click()
    _send(browser)
    assert "JSON object" in browser.find_element(By.ID, "data-error").text
    check_page(browser)
    later = (datetime.now(UTC) + timedelta(days=2)).strftime("%m%d%Y\t%I%M%p")
    fill(browser, data="")
    browser.find_element(By.ID, "send_at").send_keys(later)
    _send(browser)
    assert browser.find_element(By.CSS_SELECTOR, "[data-status]").text == "Scheduled"
    assert _broadcasts(app) == [("Hi", "scheduled")]
    far = (datetime.now(UTC) + timedelta(days=9)).strftime("%m%d%Y\t%I%M%p")
    browser.get(f"{base}/console/broadcasts/new")
    fill(browser, subject="Far", text="x")
    browser.find_element(By.ID, "send_at").send_keys(far)
    _send(browser)
    assert "7 days" in browser.find_element(By.ID, "send_at-error").text


def test_without_csrf_nothing_is_sent(live_app: Any, acme: Any, browser: Any) -> None:
    app, base = live_app
    sign_in(browser, base)
    browser.get(f"{base}/console/broadcasts/new")
    fill(browser, subject="Forged", text="x")
    browser.execute_script("document.querySelector('form[action$=\"/console/broadcasts/new\"]').action ="
                           " '/console/broadcasts'")
    submit_forged(browser, "/console/broadcasts")
    assert _broadcasts(app) == []


def test_another_tenants_broadcast_is_not_found_and_a_user_is_refused(live_app: Any, acme: Any,
                                                                      browser: Any) -> None:
    app, base = live_app
    other = globex(app)
    sent = app.test_client().post("/v1/broadcasts", json={"subject": "s", "text": "t",
                                                           "audience": {"roles": ["admin"]}},
                                  headers=other["headers"])
    assert sent.status_code == 202, sent.get_json()
    sign_in(browser, base)
    assert_not_found(browser, base, f"/console/broadcasts/{sent.get_json()['id']}")
    assert_not_found(browser, base, f"/console/broadcasts/{sent.get_json()['id']}/progress")
    assert_admin_only(browser, base, "/console/broadcasts")


def test_the_console_spends_the_apis_hourly_budget(app_factory: Any, browser: Any) -> None:
    """One budget per tenant (API.md §5), whichever door the broadcast comes through."""
    from tests.browser import served
    from tests.helpers import create_tenant

    browser.execute_cdp_cmd("Network.clearBrowserCookies", {})
    with served(app_factory, RATELIMIT_BROADCASTS="1 per hour") as (app, base):
        create_tenant(app, "acme")
        headers = acme_headers(app)
        body = {"subject": "s", "text": "t", "audience": {"roles": ["admin"]}}
        assert app.test_client().post("/v1/broadcasts", json=body, headers=headers).status_code == 202
        sign_in(browser, base)
        browser.get(f"{base}/console/broadcasts/new")
        fill(browser, subject="Second", text="x")
        _send(browser)
        assert h1(browser).startswith("Too many requests")
        assert _broadcasts(app) == [("s", "queued")]
