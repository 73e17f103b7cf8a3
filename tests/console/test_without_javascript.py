"""Every read and every form of the console works with JavaScript off (API.md §12)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from selenium.webdriver.common.by import By

from tests.browser import chromium
from tests.console.conftest import USER_PASSWORD, follow, sign_in
from tests.fixtures import drain
from tests.helpers import bearer, login


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium(javascript=False) as driver:
        yield driver


def test_the_console_without_javascript(live_app: Any, acme: Any, browser: Any, redis: Any) -> None:
    app, base = live_app
    client = app.test_client()
    token = login(client, "acme", "user@acme.test", USER_PASSWORD)
    sent = client.post("/v1/messages", json={"to": ["a@example.test"], "subject": "No script", "text": "Hi"},
                       headers=bearer(token))
    assert sent.status_code == 202
    drain(app, redis, scheduled=False)

    sign_in(browser, base, "user@acme.test", USER_PASSWORD)
    assert "js" not in (browser.find_element(By.TAG_NAME, "html").get_attribute("class") or "")  # scripts are off
    browser.find_element(By.ID, "f-subject").send_keys("script")
    follow(browser, browser.find_element(By.XPATH, "//button[normalize-space()='Search']"))
    follow(browser, browser.find_element(By.LINK_TEXT, "No script"))
    assert "Accepted by the recipient's mail server." in browser.find_element(By.TAG_NAME, "main").text
    follow(browser, browser.find_element(By.LINK_TEXT, "Account"))
    name = browser.find_element(By.ID, "name")
    name.clear()
    name.send_keys("No Script")
    follow(browser, browser.find_element(By.XPATH, "//form[.//input[@id='name']]//button"))
    assert "Your changes are saved." in browser.find_element(By.TAG_NAME, "main").text
    follow(browser, browser.find_element(By.CSS_SELECTOR, "form[action$='/console/logout'] button"))
    assert "You have signed out." in browser.find_element(By.TAG_NAME, "main").text
