"""Steps the admin pages' tests share: forms submitted as a person would, the error pages, other tenants."""

from __future__ import annotations

from typing import Any

from flask import Flask
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.console.axe import assert_accessible
from tests.console.conftest import USER_PASSWORD, wait_replaced
from tests.console.conftest import sign_in as sign_in_form
from tests.helpers import ADMIN_PASSWORD, bearer, create_tenant, login


def sign_in(browser: Any, base: str, email: str = "admin@acme.test", password: str = ADMIN_PASSWORD) -> None:
    """The sign-in form, then wait until the console answered it (a next page load would cancel it)."""
    sign_in_form(browser, base, email, password)
    WebDriverWait(browser, 15).until(lambda b: "/console/login" not in b.current_url)


def h1(browser: Any) -> str:
    return browser.find_element(By.TAG_NAME, "h1").text


def form(browser: Any, action: str) -> Any:
    """The (first) POST form whose action ends in ``action``."""
    return browser.find_element(By.CSS_SELECTOR, f"form[method=post][action$='{action}']")


def fill(browser: Any, **fields: str) -> None:
    for element_id, value in fields.items():
        element = browser.find_element(By.ID, element_id)
        element.clear()
        element.send_keys(value)


def submit(browser: Any, action: str) -> None:
    click(browser, form(browser, action).find_element(By.CSS_SELECTOR, "button[type=submit]"))


def click(browser: Any, button: Any) -> None:
    """Click a button that loads a page, and wait until the new page replaced the old one."""
    html = browser.find_element(By.TAG_NAME, "html")
    button.click()
    wait_replaced(browser, html, 15)
    WebDriverWait(browser, 15).until(lambda b: b.execute_script("return document.readyState") == "complete")


def notice(browser: Any) -> str:
    return " ".join(e.text for e in browser.find_elements(By.CSS_SELECTOR, ".notice"))


def submit_forged(browser: Any, action: str) -> None:
    """Submit the form with a wrong CSRF token: the 400 page, and nothing changed (the caller checks)."""
    browser.execute_script(
        "document.querySelector(arguments[0]).querySelector('input[name=csrf_token]').value = 'forged'",
        f"form[method=post][action$='{action}']")
    submit(browser, action)
    assert "(400)" in h1(browser)
    assert "Nothing was changed" in browser.find_element(By.CLASS_NAME, "error-text").text


def post_forged(browser: Any, base: str, page: str, action: str, **fields: str) -> None:
    """Open ``page``, fill ``fields`` and post the form to ``action`` with a wrong CSRF token."""
    browser.get(f"{base}{page}")
    fill(browser, **fields)
    submit_forged(browser, action)


def stored(app: Flask, *columns: Any) -> list[tuple[Any, ...]]:
    """The rows of ``columns`` in the database now, sorted."""
    from sqlalchemy import select

    from mailer.extensions import db

    with app.app_context():
        return sorted(db.session.execute(select(*columns)).tuples())


def assert_admin_only(browser: Any, base: str, path: str) -> None:
    """A `user` gets the 403 page in the console's layout, with the request id."""
    browser.execute_cdp_cmd("Network.clearBrowserCookies", {})
    sign_in(browser, base, "user@acme.test", USER_PASSWORD)
    browser.get(f"{base}{path}")
    assert h1(browser).startswith("Not allowed"), h1(browser)
    assert browser.find_element(By.CLASS_NAME, "request-id").text


def assert_not_found(browser: Any, base: str, path: str) -> None:
    browser.get(f"{base}{path}")
    assert h1(browser).startswith("Page not found"), h1(browser)


def check_page(browser: Any) -> None:
    """axe-core: no serious or critical violation."""
    assert_accessible(browser)


def globex(app: Flask) -> dict[str, Any]:
    """Another tenant and its admin's bearer headers (for resources that must stay invisible to acme)."""
    ids = create_tenant(app, "globex", "admin@globex.test")
    return {**ids, "headers": bearer(login(app.test_client(), "globex", "admin@globex.test"))}


def acme_headers(app: Flask) -> dict[str, Any]:
    return bearer(login(app.test_client(), "acme", "admin@acme.test"))
