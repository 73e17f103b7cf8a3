"""A live HTTP server for an app and a headless Chromium to drive it (hosted pages and the console)."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from tests.fixtures import free_port

CHROMIUM = os.environ.get("CHROMIUM_BINARY") or shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER") or shutil.which("chromedriver")


@contextmanager
def served(app_factory: Any, **overrides: Any) -> Iterator[tuple[Flask, str]]:
    """The app served over real HTTP on a free port; links in mail point at it."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    app = app_factory(PUBLIC_BASE_URL=base, **overrides)
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield app, base
    finally:
        server.shutdown()
        thread.join(timeout=5)


@contextmanager
def chromium(*, javascript: bool = True) -> Iterator[Any]:
    """Headless Chromium (skips where it is not installed); ``javascript=False`` turns scripts off."""
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("no headless Chromium here: `make test` installs Debian's chromium and chromium-driver as root")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1280,900"):
        options.add_argument(flag)
    if not javascript:
        options.add_experimental_option("prefs", {"profile.managed_default_content_settings.javascript": 2})
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()


def left_page(error: Exception) -> bool:
    """Whether ``error`` is chromedriver's answer about an element of a page being replaced: stale, or, mid-swap,
    an inspector error (a plain WebDriverException) saying the node "does not belong to the document"."""
    from selenium.common.exceptions import StaleElementReferenceException

    return isinstance(error, StaleElementReferenceException) or "does not belong to the document" in str(error)


def until_settled(browser: Any, read: Callable[[Any], Any], timeout: float = 10.0) -> Any:
    """Wait until ``read(browser)`` gives something truthy, reading again while a navigation replaces the page."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait

    def attempt(driver: Any) -> Any:
        try:
            return read(driver)
        except WebDriverException as raised:
            if left_page(raised):
                return False
            raise

    return WebDriverWait(browser, timeout).until(attempt)
