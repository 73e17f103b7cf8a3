"""Opening a verification or reset link (GET) never changes state: the page shows a button and only
its POST, with the page's CSRF token, redeems (API.md §2). Non-ASCII in a CSRF field is a 400 form."""

from __future__ import annotations

import re

import pytest

from tests.helpers import PASSWORD, login_pair, mails_to, register, token_in


def _csrf(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


@pytest.fixture
def verification(client, worker, smtp_server, admin):
    assert register(client, "ann@example.com").status_code == 202
    worker()
    return token_in(mails_to(smtp_server, "ann@example.com")[0], "/verify-email")


def _login_status(client) -> int:
    return client.post("/v1/auth/login", json={"tenant": "acme", "email": "ann@example.com",
                                               "password": PASSWORD}).status_code


def test_opening_the_verification_link_only_shows_a_button(client, verification):
    """A mail scanner's GETs leave the account unverified; the page offers the confirming form."""
    for _ in range(3):
        page = client.get(f"/verify-email?token={verification}")
        assert page.status_code == 200
        body = page.get_data(as_text=True)
        assert 'data-status="confirm"' in body and 'method="post" action="/verify-email"' in body
    assert _login_status(client) == 403  # email_not_verified


def test_pressing_the_button_verifies(client, verification):
    """The POST with the page's CSRF token redeems the token; a second press says the link is used."""
    page = client.get(f"/verify-email?token={verification}").get_data(as_text=True)
    done = client.post("/verify-email", data={"token": verification, "csrf": _csrf(page)})
    assert done.status_code == 200 and 'data-status="verified"' in done.get_data(as_text=True)
    assert _login_status(client) == 200
    again = client.get(f"/verify-email?token={verification}")
    assert again.status_code == 400 and 'data-status="invalid_token"' in again.get_data(as_text=True)


def test_a_post_without_the_pages_csrf_token_verifies_nothing(app, verification):
    """A cross-site form post (no cookie, or a forged field) gets the form back, unredeemed."""
    fresh = app.test_client()  # no cookie
    refused = fresh.post("/verify-email", data={"token": verification, "csrf": "forged"})
    assert refused.status_code == 400 and 'data-status="confirm"' in refused.get_data(as_text=True)
    assert _login_status(fresh) == 403


def test_opening_the_reset_link_changes_nothing(client, worker, smtp_server, admin):
    """Several GETs of the reset page leave the token usable."""
    client.post("/v1/auth/forgot-password", json={"tenant": "acme", "email": "admin@acme.test"})
    worker()
    token = token_in(mails_to(smtp_server, "admin@acme.test")[0], "/reset-password")
    for _ in range(3):
        assert client.get(f"/reset-password?token={token}").status_code == 200
    assert client.post("/v1/auth/reset-password", json={"token": token, "password": PASSWORD}).status_code == 200
    login_pair(client, "admin@acme.test", PASSWORD)


@pytest.mark.parametrize("path", ["/reset-password", "/verify-email"])
def test_non_ascii_in_the_csrf_field_is_the_400_form(client, path):
    """hmac.compare_digest refuses non-ASCII str; the pages compare bytes, so this is no 500."""
    client.set_cookie("mailer_csrf", "a", path=path)
    response = client.post(path, data={"token": "x", "csrf": "é", "password": "p" * 10, "password_confirm": "p" * 10})
    assert response.status_code == 400
    assert "expired" in response.get_data(as_text=True) or "not valid" in response.get_data(as_text=True)
