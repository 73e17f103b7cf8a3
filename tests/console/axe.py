"""axe-core in the page under test: no serious or critical violation (API.md §12, WCAG 2.1 AA)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

AXE = Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js"


def assert_accessible(browser: Any) -> None:
    if not AXE.exists():
        pytest.skip("axe-core is not installed: `make test` runs npm ci in tests/console")
    browser.execute_script(AXE.read_text())
    result = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa',"
        " 'best-practice']}}).then(r => done(r.violations)).catch(e => done([{id: 'axe-error', impact: 'critical',"
        " help: String(e), nodes: []}]));"
    )
    serious = [f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
               for v in result if v.get("impact") in ("serious", "critical")]
    assert not serious, f"{browser.current_url}: {serious}"


def assert_same_origin(browser: Any, base: str) -> None:
    """Every src/href in the page, and every request the browser made, stays on the app's origin."""
    urls = browser.execute_script(
        "return Array.from(document.querySelectorAll('[src],[href],[action]'))"
        ".map(e => e.src || e.href || e.action).filter(Boolean);"
    )
    foreign = [u for u in urls if not (u.startswith(base) or u.startswith("#") or u.startswith("data:"))]
    for entry in browser.get_log("performance"):
        message = entry.get("message", "")
        if '"Network.requestWillBeSent"' in message:
            url = json.loads(message)["message"]["params"]["request"]["url"]
            if not (url.startswith(base) or url.startswith("data:")):
                foreign.append(url)
    assert not foreign, f"requests to another origin from {browser.current_url}: {foreign}"
