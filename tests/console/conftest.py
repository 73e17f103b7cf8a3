"""The console's test rig: a live app, one Chromium per module, tenants and people, a sign-in helper."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from selenium.webdriver.common.by import By

from tests.browser import chromium, left_page, served
from tests.helpers import ADMIN_PASSWORD, create_tenant

USER_PASSWORD = "user password 1234"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as driver:
        yield driver


@pytest.fixture
def live_app(app_factory: Any, browser: Any) -> Iterator[tuple[Flask, str]]:
    browser.execute_cdp_cmd("Network.clearBrowserCookies", {})  # cookies are per host, not per port
    browser.get_log("performance")  # start this test's request log empty
    with served(app_factory) as live:
        yield live


@pytest.fixture
def acme(live_app: tuple[Flask, str]) -> dict[str, str]:
    """Tenant `acme` with its admin (admin@acme.test) and a verified `user` (user@acme.test)."""
    app, _ = live_app
    ids = create_tenant(app, "acme")
    ids["user_id"] = str(add_user(app, "acme", "user@acme.test"))
    return ids


def add_user(app: Flask, slug: str, email: str, *, role: str = "user", verified: bool = True,
             password: str = USER_PASSWORD, locale: str | None = None) -> Any:
    from sqlalchemy import select

    from mailer.extensions import db
    from mailer.models import Tenant, User
    from mailer.models.types import utcnow
    from mailer.security.passwords import hash_password

    with app.app_context():
        tenant = db.session.scalars(select(Tenant).where(Tenant.slug == slug)).one()
        user = User(tenant_id=tenant.id, email=email, name=email.split("@")[0].title(), role=role,
                    password_hash=hash_password(password), email_verified_at=utcnow() if verified else None,
                    locale=locale)
        db.session.add(user)
        db.session.commit()
        return user.id


def sign_in(browser: Any, base: str, email: str = "admin@acme.test", password: str = ADMIN_PASSWORD,
            tenant: str = "acme") -> None:
    """Through the sign-in page, as a person would."""
    browser.get(f"{base}/console/login")
    browser.find_element(By.ID, "tenant").send_keys(tenant)
    browser.find_element(By.ID, "email").send_keys(email)
    browser.find_element(By.ID, "password").send_keys(password)
    follow(browser, browser.find_element(By.CSS_SELECTOR, "form[action$='/console/login'] button[type=submit]"))


def follow(browser: Any, element: Any) -> None:
    """Click a link or button and wait for the next page to replace this one."""
    page = browser.find_element(By.TAG_NAME, "html")
    element.click()
    wait_replaced(browser, page, 10)


def wait_replaced(browser: Any, page: Any, timeout: float) -> None:
    """Wait until the page's <html> element is gone (a new page loaded)."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.wait import WebDriverWait

    try:
        WebDriverWait(browser, timeout).until(lambda _: _replaced(page))
    except TimeoutException:
        # Say whether the browser sent anything: a request the server never answered, or a click that did nothing.
        raise AssertionError(f"no new page after {timeout} s at {browser.current_url}; requests the browser sent "
                             f"since the last look: {_requests_sent(browser)}") from None


def _requests_sent(browser: Any) -> list[str]:
    sent = []
    for entry in browser.get_log("performance"):
        message = json.loads(entry.get("message", "{}")).get("message", {})
        if message.get("method") == "Network.requestWillBeSent":
            request = message["params"]["request"]
            sent.append(f"{request['method']} {request['url']}")
    return sent


def _replaced(page: Any) -> bool:
    """Selenium's staleness check; chromedriver may report a page being swapped out as an inspector error."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.support import expected_conditions

    try:
        return bool(expected_conditions.staleness_of(page)(None))
    except WebDriverException as error:
        if left_page(error):
            return True
        raise
