"""The hosted pages without a browser: headers, CSRF, bad tokens."""

from __future__ import annotations

import re


def test_pages_never_leak_the_token(client):
    response = client.get("/reset-password?token=abc")
    assert response.status_code == 200
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_unknown_verification_token_shows_invalid(client):
    response = client.get("/verify-email?token=not-a-real-token")
    assert response.status_code == 400
    assert 'data-status="invalid_token"' in response.get_data(as_text=True)


def test_reset_post_without_csrf_cookie_is_refused(client):
    response = client.post("/reset-password", data={"token": "x", "csrf": "forged", "password": "p" * 10,
                                                     "password_confirm": "p" * 10})
    assert response.status_code == 400
    assert "form expired" in response.get_data(as_text=True)


def test_reset_with_bad_token_and_valid_csrf_shows_invalid(client):
    form = client.get("/reset-password?token=bogus").get_data(as_text=True)
    csrf = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
    response = client.post("/reset-password", data={"token": "bogus", "csrf": csrf, "password": "p" * 10,
                                                     "password_confirm": "p" * 10})
    assert response.status_code == 400
    assert 'data-status="invalid_token"' in response.get_data(as_text=True)


def test_token_is_escaped_in_the_form(client):
    body = client.get('/reset-password?token="><script>alert(1)</script>').get_data(as_text=True)
    assert "<script>alert(1)</script>" not in body


def test_the_server_access_log_never_shows_the_token(live_app):
    """werkzeug logs each request line; the query's token is redacted by our log filters."""
    import io
    import logging
    import urllib.error
    import urllib.request

    from mailer.logs import build_handler

    _, base = live_app
    stream = io.StringIO()
    handler = build_handler(stream, "json")
    root = logging.getLogger()
    root.addHandler(handler)
    previous, root.level = root.level, logging.INFO
    try:
        try:
            urllib.request.urlopen(f"{base}/verify-email?token=SeCrEtToKeN123456", timeout=10)
        except urllib.error.HTTPError as exc:
            assert exc.code == 400
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)
    logged = stream.getvalue()
    assert "/verify-email?token=[redacted]" in logged
    assert "SeCrEtToKeN123456" not in logged
