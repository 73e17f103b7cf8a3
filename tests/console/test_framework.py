"""The console's frame: sign-in, sessions, CSRF, roles, error pages, headers (a real browser)."""

from __future__ import annotations

from typing import Any

from selenium.webdriver.common.by import By

from tests.console.conftest import USER_PASSWORD, follow, sign_in


def test_sign_in_and_out(live_app: Any, acme: Any, browser: Any) -> None:
    _, base = live_app
    sign_in(browser, base)
    assert browser.current_url == f"{base}/console"
    assert browser.find_element(By.TAG_NAME, "h1").text == "Overview"
    follow(browser, browser.find_element(By.CSS_SELECTOR, "form[action$='/console/logout'] button"))
    assert "/console/login" in browser.current_url
    browser.get(f"{base}/console")
    assert "/console/login" in browser.current_url


def test_a_user_is_sent_to_messages_and_refused_admin_pages(live_app: Any, acme: Any, browser: Any) -> None:
    _, base = live_app
    sign_in(browser, base, "user@acme.test", USER_PASSWORD)
    assert browser.current_url == f"{base}/console/messages"


def test_an_unknown_console_path_is_the_404_page(live_app: Any, acme: Any, browser: Any) -> None:
    _, base = live_app
    sign_in(browser, base, "user@acme.test", USER_PASSWORD)
    browser.get(f"{base}/console/no-such-page")
    assert browser.find_element(By.TAG_NAME, "h1").text.startswith("Page not found")
    assert browser.find_element(By.CLASS_NAME, "request-id").text


def test_a_post_without_csrf_changes_nothing(live_app: Any, acme: Any, browser: Any) -> None:
    _, base = live_app
    sign_in(browser, base, "user@acme.test", USER_PASSWORD)
    browser.get(f"{base}/console/account")
    browser.execute_script("document.querySelector(\"form[action$='/console/account'] input[name=csrf_token]\")"
                           ".value = 'forged'")
    name = browser.find_element(By.ID, "name")
    name.clear()
    name.send_keys("Changed")
    follow(browser, browser.find_element(By.CSS_SELECTOR, "form[action$='/console/account'] button[type=submit]"))
    assert "(400)" in browser.find_element(By.TAG_NAME, "h1").text
    assert "Nothing was changed" in browser.find_element(By.CLASS_NAME, "error-text").text
    browser.get(f"{base}/console/account")
    assert browser.find_element(By.ID, "name").get_attribute("value") == "User"
