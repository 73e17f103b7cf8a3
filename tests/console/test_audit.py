"""/console/audit: the log filtered by action, and "Verify" (the chain check)."""

from __future__ import annotations

from typing import Any

from selenium.webdriver.common.by import By

from tests.console.admin import assert_admin_only, check_page, click, fill, h1, notice, sign_in, submit, submit_forged


def test_filter_and_verify(live_app: Any, acme: Any, browser: Any) -> None:
    app, base = live_app
    sign_in(browser, base)
    browser.get(f"{base}/console/audit")
    assert h1(browser) == "Audit log"
    check_page(browser)
    assert "login.succeeded" in browser.find_element(By.TAG_NAME, "table").text
    fill(browser, action="user.registered")
    click(browser, browser.find_element(By.CSS_SELECTOR, "form[role=search] button"))
    assert "?action=user.registered" in browser.current_url
    assert not browser.find_elements(By.CSS_SELECTOR, "tbody tr")
    browser.get(f"{base}/console/audit?action=login.succeeded")
    assert {row.find_elements(By.TAG_NAME, "td")[2].text for row in browser.find_elements(By.CSS_SELECTOR, "tbody tr")
            } == {"login.succeeded"}
    submit(browser, "/console/audit/verify?action=login.succeeded")
    assert "The chain is intact" in notice(browser)
    check_page(browser)
    with app.app_context():  # a record changed afterwards: Verify says where the chain breaks
        from sqlalchemy import update

        from mailer.extensions import db
        from mailer.models import AuditEvent

        db.session.execute(update(AuditEvent).where(AuditEvent.seq == 1).values(ip="203.0.113.9"))
        db.session.commit()
    browser.get(f"{base}/console/audit")
    submit(browser, "/console/audit/verify")
    assert "broken at record 1" in notice(browser)


def test_verify_without_csrf_is_refused_and_a_user_is_refused(live_app: Any, acme: Any, browser: Any) -> None:
    _, base = live_app
    sign_in(browser, base)
    browser.get(f"{base}/console/audit")
    submit_forged(browser, "/console/audit/verify")
    assert_admin_only(browser, base, "/console/audit")
