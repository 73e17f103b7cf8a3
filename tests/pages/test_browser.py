"""Verification and password reset clicked through in a real browser, from the real mail."""

from __future__ import annotations

import re

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser import until_settled
from tests.fixtures import Drainer
from tests.helpers import create_tenant

pytestmark = pytest.mark.browser

PASSWORD = "first password 123"
NEW_PASSWORD = "second password 456"


def _link(received, path: str) -> str:
    text = received.message.get_body(("plain",)).get_content()
    match = re.search(rf"(http://\S+{path}\?token=[A-Za-z0-9_\-]+)", text)
    assert match, text
    return match.group(1)


def _element(browser, element_id: str):
    """Waits for the element: a click returns before the next page has loaded."""
    return WebDriverWait(browser, 10).until(expected_conditions.presence_of_element_located((By.ID, element_id)))


def _wait_for_status(browser, status: str) -> None:
    """Waits until the page's result says ``status`` (the page before a click has a result too)."""
    until_settled(browser, lambda b: b.find_element(By.ID, "result").get_attribute("data-status") == status)


def _login(client, password):
    return client.post("/v1/auth/login", json={"tenant": "acme", "email": "ann@example.com", "password": password})


def test_register_verify_in_browser_then_login(live_app, browser, smtp_server, redis):
    app, base = live_app
    worker = Drainer(app, redis)  # jobs run with the live app's settings, so links point at it
    create_tenant(app)
    client = app.test_client()
    assert client.post("/v1/auth/register", json={"tenant": "acme", "email": "ann@example.com",
                                                  "password": PASSWORD, "name": "Ann"}).status_code == 202
    worker()
    assert _login(client, PASSWORD).status_code == 403
    link = _link(smtp_server.messages[-1], "/verify-email")
    assert link.startswith(base)

    browser.get(link)  # opening the link only shows the button (mail scanners open links too)
    assert _element(browser, "result").get_attribute("data-status") == "confirm"
    assert _login(client, PASSWORD).status_code == 403
    _element(browser, "confirm").click()
    _wait_for_status(browser, "verified")
    assert _login(client, PASSWORD).status_code == 200

    browser.get(link)  # a used link says so, and changes nothing
    assert _element(browser, "result").get_attribute("data-status") == "invalid_token"


def test_forgot_then_reset_in_browser_then_login(live_app, browser, smtp_server, redis):
    app, _ = live_app
    worker = Drainer(app, redis)
    create_tenant(app)
    client = app.test_client()
    client.post("/v1/auth/register", json={"tenant": "acme", "email": "ann@example.com", "password": PASSWORD})
    worker()
    browser.get(_link(smtp_server.messages[-1], "/verify-email"))
    _element(browser, "confirm").click()
    _wait_for_status(browser, "verified")
    client.post("/v1/auth/forgot-password", json={"tenant": "acme", "email": "ann@example.com"})
    worker()
    link = _link(smtp_server.messages[-1], "/reset-password")

    browser.get(link)
    browser.find_element(By.ID, "password").send_keys(NEW_PASSWORD)
    browser.find_element(By.ID, "password_confirm").send_keys(NEW_PASSWORD + "typo")
    browser.find_element(By.ID, "submit").click()
    assert "do not match" in _element(browser, "error").text

    browser.find_element(By.ID, "password").send_keys(NEW_PASSWORD)
    browser.find_element(By.ID, "password_confirm").send_keys(NEW_PASSWORD)
    browser.find_element(By.ID, "submit").click()
    assert _element(browser, "result").get_attribute("data-status") == "password_reset"

    assert _login(client, PASSWORD).status_code == 401
    assert _login(client, NEW_PASSWORD).status_code == 200
    worker()
    assert "password" in smtp_server.messages[-1].message["Subject"].lower()  # the "password changed" notice
