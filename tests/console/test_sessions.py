"""Signing in and how a console session ends (API.md §12), in a real browser."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from typing import Any

from selenium.webdriver.common.by import By
from sqlalchemy import select, update

from mailer.accounts import signup
from mailer.extensions import db
from mailer.models import ActionPurpose, AuditEvent, ConsoleSession, Tenant, User
from mailer.security.action_tokens import issue_action_token
from tests.browser import served
from tests.console.axe import assert_accessible, assert_same_origin
from tests.console.conftest import USER_PASSWORD, add_user, follow, sign_in
from tests.helpers import ADMIN_PASSWORD, bearer, create_tenant, login

GENERIC = "The organization, email or password is not right, or this account cannot sign in."


def _h1(browser: Any) -> str:
    return browser.find_element(By.TAG_NAME, "h1").text


def _signed_out(browser: Any, base: str) -> bool:
    browser.get(f"{base}/console/account")
    return "/console/login" in browser.current_url


def test_sign_in_pages_wrong_password_and_unknown_user_get_one_answer(live_app: Any, acme: Any,
                                                                      browser: Any) -> None:
    app, base = live_app
    browser.get(f"{base}/console/login?tenant=acme")
    for field in ("Organization", "Email", "Password"):
        assert browser.find_element(By.XPATH, f"//label[normalize-space()='{field}']")
    assert_accessible(browser)
    assert_same_origin(browser, base)
    sign_in(browser, base, "admin@acme.test", "wrong password")
    assert browser.find_element(By.ID, "login-error").text == GENERIC
    sign_in(browser, base, "nobody@acme.test", "wrong password")
    assert browser.find_element(By.ID, "login-error").text == GENERIC
    assert_accessible(browser)
    with app.app_context():
        failed = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "login.failed")).all()
        assert sorted(e.details["reason"] for e in failed) == ["unknown_user", "wrong_password"]
        assert "wrong password" not in str([e.details for e in failed])
    follow(browser, browser.find_element(By.LINK_TEXT, "Forgot your password?"))
    assert_accessible(browser)
    browser.find_element(By.ID, "email").send_keys("admin@acme.test")
    follow(browser, browser.find_element(By.XPATH, "//button[normalize-space()='Send the link']"))
    assert "a link to choose a new password is on its way" in browser.find_element(By.TAG_NAME, "main").text


def test_an_unverified_address_is_told_so_and_can_resend(live_app: Any, acme: Any, browser: Any) -> None:
    app, base = live_app
    add_user(app, "acme", "new@acme.test", verified=False)
    sign_in(browser, base, "new@acme.test", USER_PASSWORD)
    assert "has not been verified yet" in browser.find_element(By.ID, "login-unverified").text
    follow(browser, browser.find_element(By.XPATH, "//button[normalize-space()='Send the verification link again']"))
    assert "a new verification link is on its way" in browser.find_element(By.TAG_NAME, "main").text
    sign_in(browser, base, "new@acme.test", "not the password")
    assert browser.find_element(By.ID, "login-error").text == GENERIC  # nothing said before a right password


def test_sign_up_when_the_tenant_opens_it(live_app: Any, browser: Any) -> None:
    app, base = live_app
    create_tenant(app, "acme")
    browser.get(f"{base}/console/login?tenant=acme")
    follow(browser, browser.find_element(By.LINK_TEXT, "Create an account"))
    assert_accessible(browser)
    browser.find_element(By.ID, "name").send_keys("Ann")
    browser.find_element(By.ID, "email").send_keys("ann@example.test")
    browser.find_element(By.ID, "password").send_keys("long enough password")
    follow(browser, browser.find_element(By.XPATH, "//button[normalize-space()='Create the account']"))
    assert "we sent a link to verify the address" in browser.find_element(By.TAG_NAME, "main").text


def test_sign_out_and_idle_expiry(live_app: Any, acme: Any, browser: Any) -> None:
    app, base = live_app
    sign_in(browser, base)
    assert_accessible(browser)  # the overview
    assert_same_origin(browser, base)
    with app.app_context():
        row = db.session.scalars(select(ConsoleSession)).one()
        row.last_seen_at = row.last_seen_at - timedelta(hours=12, minutes=1)  # CONSOLE_SESSION_HOURS=12 idle
        db.session.commit()
    assert _signed_out(browser, base)
    with app.app_context():
        assert db.session.scalars(select(ConsoleSession)).all() == []  # an ended session's row is gone
    sign_in(browser, base)
    follow(browser, browser.find_element(By.CSS_SELECTOR, "form[action$='/console/logout'] button"))
    assert "You have signed out." in browser.find_element(By.TAG_NAME, "main").text
    assert _signed_out(browser, base)


def test_a_fractional_idle_limit(app_factory: Any, browser: Any) -> None:
    browser.execute_cdp_cmd("Network.clearBrowserCookies", {})
    browser.get_log("performance")
    with served(app_factory, CONSOLE_SESSION_HOURS=0.001) as (app, base):  # 3.6 seconds
        create_tenant(app, "acme")
        sign_in(browser, base)
        time.sleep(1.5)
        browser.get(f"{base}/console/account")  # used within the limit: still signed in
        assert "/console/account" in browser.current_url
        time.sleep(4)
        assert _signed_out(browser, base)


def test_a_password_reset_disable_demotion_or_tenant_disable_ends_the_session(live_app: Any, acme: Any,
                                                                           browser: Any) -> None:
    app, base = live_app
    client = app.test_client()
    admin = bearer(login(client, "acme", "admin@acme.test"))

    sign_in(browser, base, "user@acme.test", USER_PASSWORD)
    assert not _signed_out(browser, base)
    with app.app_context():
        user = db.session.get(User, uuid.UUID(acme["user_id"]))
        token = issue_action_token(user, ActionPurpose.PASSWORD_RESET, 3600)
        db.session.commit()
        signup.reset_password(token, "a brand new password")
    assert _signed_out(browser, base)

    sign_in(browser, base, "user@acme.test", "a brand new password")
    assert not _signed_out(browser, base)
    assert client.patch(f"/v1/users/{acme['user_id']}", json={"is_active": False}, headers=admin).status_code == 200
    assert _signed_out(browser, base)
    assert client.patch(f"/v1/users/{acme['user_id']}", json={"is_active": True}, headers=admin).status_code == 200

    add_user(app, "acme", "boss@acme.test", role="admin")
    with app.app_context():
        boss = db.session.scalars(select(User).where(User.email == "boss@acme.test")).one().id
    sign_in(browser, base, "boss@acme.test", USER_PASSWORD)
    assert browser.current_url == f"{base}/console"
    assert client.patch(f"/v1/users/{boss}", json={"role": "user"}, headers=admin).status_code == 200
    assert _signed_out(browser, base)

    sign_in(browser, base, "admin@acme.test", ADMIN_PASSWORD)
    assert not _signed_out(browser, base)
    with app.app_context():
        db.session.execute(update(Tenant).where(Tenant.slug == "acme").values(is_active=False))
        db.session.commit()
    assert _signed_out(browser, base)
