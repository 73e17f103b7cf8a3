"""L11: /docs runs the vendored Redoc from the app's own origin, pinned by SRI, under a CSP (no CDN)."""

from __future__ import annotations

import base64
import hashlib
import re

from selenium.webdriver.support.ui import WebDriverWait


def test_docs_loads_redoc_from_this_origin_with_sri_and_csp(client):
    response = client.get("/docs")
    page = response.get_data(as_text=True)
    assert "cdn." not in page and "https://" not in page
    src = re.search(r'<script src="([^"]+)"\s+integrity="([^"]+)"', page)
    assert src is not None and src.group(1).startswith("/docs/static/redoc/redoc.standalone.js")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp
    bundle = client.get(src.group(1))
    assert bundle.status_code == 200 and bundle.mimetype in ("text/javascript", "application/javascript")
    digest = base64.b64encode(hashlib.sha384(bundle.get_data()).digest()).decode()
    assert src.group(2) == f"sha384-{digest}"
    assert b'Version: "2.5.4"' in client.get("/docs/static/redoc/redoc.standalone.js.LICENSE.txt").get_data()
    assert client.get("/docs/static/redoc/LICENSE").status_code == 200


def test_redoc_renders_the_reference_in_a_real_browser(live_app, browser):
    """Chromium enforces the CSP and the integrity hash: the reference still renders, from this origin alone."""
    _, base = live_app
    browser.get(f"{base}/docs")
    WebDriverWait(browser, 60).until(lambda d: "Send up to 500 messages in one request" in d.page_source)
    # Script and data only from here; Redoc's footer logo (cdn.redoc.ly) is refused by the CSP's img-src.
    loaded = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => [new URL(e.name).origin, e.initiatorType,"
        " e.responseStatus || 0, e.transferSize, e.decodedBodySize])")
    assert all(origin == base for origin, kind, *_ in loaded if kind in ("script", "fetch", "xmlhttprequest")), loaded
    assert all(size == 0 for origin, _, _, _, size in loaded if origin != base), loaded
