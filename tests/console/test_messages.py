"""The message log and one message, through a real browser over real services (API, worker, SMTP)."""

from __future__ import annotations

import urllib.request
from typing import Any

from selenium.webdriver.common.by import By

from tests.console.axe import assert_accessible, assert_same_origin
from tests.console.conftest import USER_PASSWORD, follow, sign_in
from tests.fixtures import drain
from tests.helpers import ADMIN_PASSWORD, bearer, create_tenant, login

BODY = {"subject": "Your receipt", "text": "Thanks for your order.",
        "html": "<p>Thanks <b>for your order</b>.</p><script>document.title='pwned'</script>"}


def _send(app: Any, email: str, password: str, to: list[str], subject: str = "Your receipt",
          tenant: str = "acme") -> str:
    client = app.test_client()
    token = login(client, tenant, email, password)
    response = client.post("/v1/messages", json={**BODY, "subject": subject, "to": to}, headers=bearer(token))
    assert response.status_code == 202, response.get_json()
    return response.get_json()["id"]


def _text(browser: Any) -> str:
    return browser.find_element(By.TAG_NAME, "main").text


def test_a_bounced_and_a_deferred_recipient_in_words(live_app: Any, acme: Any, browser: Any, smtp_server: Any,
                                                     redis: Any) -> None:
    app, base = live_app
    smtp_server.handler.rcpt_replies["gone@example.test"] = "550 5.1.1 <gone@example.test>: user unknown"
    smtp_server.handler.rcpt_replies["later@example.test"] = "451 4.2.0 Greylisted, try again later"
    message_id = _send(app, "admin@acme.test", ADMIN_PASSWORD,
                       ["ok@example.test", "gone@example.test", "later@example.test"])
    drain(app, redis, scheduled=False)
    sign_in(browser, base)
    browser.get(f"{base}/console/messages/{message_id}")
    page = _text(browser)
    gone = browser.find_element(By.XPATH, "//article[.//h3[contains(., 'gone@example.test')]]").text
    assert "Failed" in gone and "The mailbox does not exist" in gone and "Permanent failure" in gone
    assert "550" in gone and "5.1.1" in gone and "user unknown" in gone
    assert "It will not be tried again." in gone
    later = browser.find_element(By.XPATH, "//article[.//h3[contains(., 'later@example.test')]]").text
    assert "Deferred" in later and "Temporary failure" in later and "greylisting" in later
    assert "It will be tried again at" in later
    ok = browser.find_element(By.XPATH, "//article[.//h3[contains(., 'ok@example.test')]]").text
    assert "Accepted by the recipient's mail server." in ok
    assert "Thanks for your order." in page  # the text part
    frame = browser.find_element(By.CSS_SELECTOR, "iframe.mail-html")
    assert frame.get_attribute("sandbox") == ""  # no allow-scripts, no allow-same-origin
    browser.switch_to.frame(frame)
    assert "for your order" in browser.find_element(By.TAG_NAME, "body").text
    browser.switch_to.default_content()
    assert browser.title != "pwned"
    assert browser.find_element(By.XPATH, "//button[normalize-space()='Retry failed recipients']")
    assert_accessible(browser)
    assert_same_origin(browser, base)

    cookie = browser.get_cookie("__Host-mailer_console")
    assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Lax"
    request = urllib.request.Request(f"{base}/console/messages/{message_id}/html",
                                     headers={"Cookie": f"__Host-mailer_console={cookie['value']}"})
    with urllib.request.urlopen(request) as framed:
        assert framed.headers["Content-Security-Policy"] == (
            "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'")
    with urllib.request.urlopen(urllib.request.Request(f"{base}/console/messages", headers=request.headers)) as log:
        csp = log.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp

    follow(browser, browser.find_element(By.XPATH, "//button[normalize-space()='Retry failed recipients']"))
    assert "1 failed recipients are queued again." in _text(browser)


def test_a_user_sees_only_their_own_messages(live_app: Any, acme: Any, browser: Any) -> None:
    app, base = live_app
    own = _send(app, "user@acme.test", USER_PASSWORD, ["a@example.test"], subject="Mine")
    theirs = _send(app, "admin@acme.test", ADMIN_PASSWORD, ["b@example.test"], subject="Admin's")
    sign_in(browser, base, "user@acme.test", USER_PASSWORD)
    assert browser.current_url == f"{base}/console/messages"
    rows = browser.find_elements(By.CSS_SELECTOR, "tbody tr")
    assert [r.find_element(By.TAG_NAME, "a").text for r in rows] == ["Mine"]
    assert "Overview" not in browser.find_element(By.CLASS_NAME, "main-nav").text
    browser.get(f"{base}/console/messages/{theirs}")
    assert browser.find_element(By.TAG_NAME, "h1").text.startswith("Page not found")
    browser.get(f"{base}/console/messages/{own}")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Mine"
    assert not browser.find_elements(By.XPATH, "//button[normalize-space()='Retry failed recipients']")
    # A user posting the admin-only retry (with a valid token) gets the 403 page.
    browser.execute_script(
        "const f = document.createElement('form'); f.method = 'post'; f.action = arguments[0];"
        "const t = document.querySelector('input[name=csrf_token]').cloneNode(); f.appendChild(t);"
        "document.body.appendChild(f); f.submit();", f"{base}/console/messages/{own}/retry")
    assert "(403)" in browser.find_element(By.TAG_NAME, "h1").text
    assert browser.find_element(By.CLASS_NAME, "request-id").text


def test_another_tenants_message_is_the_404_page(live_app: Any, acme: Any, browser: Any) -> None:
    app, base = live_app
    create_tenant(app, "globex", "admin@globex.test")
    foreign = _send(app, "admin@globex.test", ADMIN_PASSWORD, ["c@example.test"], tenant="globex")
    sign_in(browser, base)
    browser.get(f"{base}/console/messages/{foreign}")
    assert browser.find_element(By.TAG_NAME, "h1").text.startswith("Page not found")
    assert "404" in browser.find_element(By.TAG_NAME, "h1").text
    assert_accessible(browser)
    browser.get(f"{base}/console/messages/{foreign}/html")
    assert "Page not found" in browser.find_element(By.TAG_NAME, "body").text
    browser.get(f"{base}/console/messages/not-a-uuid")
    assert browser.find_element(By.TAG_NAME, "h1").text.startswith("Page not found")


def test_search_and_keyset_pages(live_app: Any, acme: Any, browser: Any) -> None:
    app, base = live_app
    _seed_messages(app, 120)
    sign_in(browser, base)
    browser.get(f"{base}/console/messages")
    first = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "tbody a")]
    assert len(first) == 50 and first[0] == "Bulk 119"
    assert not browser.find_elements(By.LINK_TEXT, "← Newer")
    follow(browser, browser.find_element(By.LINK_TEXT, "Older →"))
    second = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "tbody a")]
    assert second[0] == "Bulk 69" and second[-1] == "Bulk 20"
    follow(browser, browser.find_element(By.LINK_TEXT, "Older →"))
    third = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "tbody a")]
    assert len(third) == 20 and not browser.find_elements(By.LINK_TEXT, "Older →")
    follow(browser, browser.find_element(By.LINK_TEXT, "← Newer"))
    assert [a.text for a in browser.find_elements(By.CSS_SELECTOR, "tbody a")] == second
    follow(browser, browser.find_element(By.LINK_TEXT, "← Newer"))
    assert [a.text for a in browser.find_elements(By.CSS_SELECTOR, "tbody a")] == first
    assert_accessible(browser)

    browser.find_element(By.ID, "f-subject").send_keys("bulk 11")
    browser.find_element(By.ID, "f-tag").send_keys("odd")
    follow(browser, browser.find_element(By.XPATH, "//button[normalize-space()='Search']"))
    assert [a.text for a in browser.find_elements(By.CSS_SELECTOR, "tbody a")] == [
        "Bulk 119", "Bulk 117", "Bulk 115", "Bulk 113", "Bulk 111", "Bulk 11"]
    browser.get(f"{base}/console/messages?email=r7@example.test&status=sent")
    assert [a.text for a in browser.find_elements(By.CSS_SELECTOR, "tbody a")] == ["Bulk 7"]
    browser.get(f"{base}/console/messages?since=2031-01-01")
    assert "No messages match." in _text(browser)
    browser.get(f"{base}/console/messages?since=2026-12-02&until=2026-11-30")
    assert "not after the end" in _text(browser)


def _seed_messages(app: Any, count: int) -> None:
    """Rows as the API stores them (test set-up only: the page reads them, it does not make them)."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import select

    from mailer.extensions import db
    from mailer.models import Message, Recipient, Tenant

    with app.app_context():
        tenant = db.session.scalars(select(Tenant).where(Tenant.slug == "acme")).one()
        start = datetime.now(UTC) - timedelta(hours=3)
        for n in range(count):
            at = start + timedelta(seconds=n)
            message = Message(tenant_id=tenant.id, kind="custom", subject=f"Bulk {n}", sender="a@acme.test",
                              message_id_header=f"<{n}@acme.test>", status="sent", created_at=at,
                              tags=["odd"] if n % 2 else ["even"], meta={})
            message.recipients.append(Recipient(tenant_id=tenant.id, email=f"r{n}@example.test", status="sent",
                                                created_at=at))
            db.session.add(message)
        db.session.commit()
