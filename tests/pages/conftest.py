"""A live HTTP server for the app and a headless Chromium to drive it (tests/browser.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser import chromium, served


@pytest.fixture
def live_app(app_factory: Any) -> Iterator[tuple[Any, str]]:
    with served(app_factory) as live:
        yield live


@pytest.fixture
def browser() -> Iterator[Any]:
    with chromium() as driver:
        yield driver
