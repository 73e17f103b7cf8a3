"""Every admin page with JavaScript off (reads and forms), and in zh-CN, from a browser that runs no script."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from selenium.webdriver.common.by import By

from tests.browser import chromium
from tests.console.admin import click, fill, h1, sign_in, submit
from tests.console.conftest import wait_replaced

PAGES = ("/console/broadcasts", "/console/broadcasts/new", "/console/templates", "/console/templates/broadcast",
         "/console/domains", "/console/webhooks", "/console/suppressions", "/console/api-keys", "/console/users",
         "/console/settings", "/console/audit")
ENGLISH = {"/console/broadcasts": "Broadcasts", "/console/broadcasts/new": "New broadcast",
           "/console/templates": "Templates", "/console/templates/broadcast": "Template broadcast",
           "/console/domains": "Domains", "/console/webhooks": "Webhooks", "/console/suppressions": "Suppressions",
           "/console/api-keys": "API keys", "/console/users": "Users", "/console/settings": "Settings",
           "/console/audit": "Audit log"}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium(javascript=False) as driver:
        yield driver


def _titles(browser: Any, base: str) -> dict[str, str]:
    titles = {}
    for path in PAGES:
        browser.get(f"{base}{path}")
        titles[path] = h1(browser)
    return titles


def test_every_page_reads_and_posts_without_javascript(live_app: Any, acme: Any, browser: Any) -> None:
    _, base = live_app
    sign_in(browser, base)
    assert _titles(browser, base) == ENGLISH
    # A form without script: an API key, shown once, selectable as text.
    browser.get(f"{base}/console/api-keys")
    fill(browser, name="no script")
    submit(browser, "/console/api-keys")
    assert browser.find_element(By.ID, "new-key").text
    # A broadcast preview and its sending without script (the send button's formaction needs none either).
    browser.get(f"{base}/console/broadcasts/new")
    fill(browser, subject="Hi {{ recipient.email }}", text="x")
    click(browser, browser.find_element(By.CSS_SELECTOR, "form[action$='/console/broadcasts/new'] button.secondary"))
    assert browser.find_element(By.ID, "preview-subject").text == "Hi admin@acme.test"
    click(browser, browser.find_element(By.CSS_SELECTOR, "button[formaction$='/console/broadcasts']"))
    assert browser.find_element(By.CSS_SELECTOR, "[data-count=queued]").text == "2"


def test_every_page_speaks_chinese(live_app: Any, acme: Any, browser: Any) -> None:
    app, base = live_app
    from sqlalchemy import update

    from mailer.extensions import db
    from mailer.models import User

    with app.app_context():
        db.session.execute(update(User).values(locale="zh-CN"))
        db.session.commit()
    sign_in(browser, base)
    titles = _titles(browser, base)
    assert titles["/console/api-keys"] == "API 密钥" and titles["/console/domains"] == "域名", titles
    assert not set(titles.values()) & set(ENGLISH.values())


def test_the_keyboard_reaches_every_control_of_a_form(live_app: Any, acme: Any, browser: Any) -> None:
    """Tab walks through every control of "New broadcast" in order, and Enter sends the focused button's form."""
    from selenium.webdriver.common.keys import Keys

    _, base = live_app
    sign_in(browser, base)
    browser.get(f"{base}/console/broadcasts/new")
    controls = browser.execute_script(
        "return Array.from(document.querySelectorAll('main form input:not([type=hidden]), main form select,"
        " main form textarea, main form button')).map(e => e.id || e.textContent.trim());")
    reached = []
    body = browser.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.TAB)
    for _ in range(80):
        focused = browser.switch_to.active_element
        reached.append(focused.get_attribute("id") or focused.text.strip())
        if reached[-1] == "Send the broadcast":
            break
        focused.send_keys(Keys.TAB)
    in_order = [c for i, c in enumerate(reached) if c in controls and (i == 0 or reached[i - 1] != c)]
    assert in_order == controls  # (a date-time field has a stop per part: one entry)
    browser.find_element(By.ID, "subject").send_keys("Typed")
    browser.find_element(By.ID, "text").send_keys("by keys")
    for _ in range(20):
        browser.switch_to.active_element.send_keys(Keys.TAB)
        if browser.switch_to.active_element.text == "Preview":
            break
    page = browser.find_element(By.TAG_NAME, "html")
    browser.switch_to.active_element.send_keys(Keys.ENTER)
    wait_replaced(browser, page, 15)
    assert browser.find_element(By.ID, "preview-subject").text == "Typed"
