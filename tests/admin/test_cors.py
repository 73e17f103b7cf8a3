"""CORS: only CORS_ORIGINS, echoed exactly, never a wildcard, preflight allows Authorization and Content-Type."""

from __future__ import annotations

import pytest

from mailer.config import ConfigError

ORIGIN = "https://app.acme.test"


def preflight(client, origin):
    return client.options("/v1/messages", headers={
        "Origin": origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    })


def test_allowed_origin_is_echoed_exactly(app_factory):
    client = app_factory(CORS_ORIGINS=(ORIGIN, "http://localhost:3000")).test_client()
    response = preflight(client, ORIGIN)
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    allowed = {h.strip().lower() for h in response.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type"} <= allowed
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert "Access-Control-Allow-Credentials" not in response.headers
    assert "Origin" in response.headers.get("Vary", "")
    # Real requests too, errors included, so a browser app can read the problem JSON.
    error = client.get("/v1/messages", headers={"Origin": ORIGIN})
    assert error.status_code == 401 and error.headers["Access-Control-Allow-Origin"] == ORIGIN


@pytest.mark.parametrize("origin", ["https://evil.test", "https://app.acme.test.evil.test", "http://app.acme.test",
                                    "https://app-acme.test", "null"])
def test_other_origins_get_no_cors_headers(app_factory, origin):
    client = app_factory(CORS_ORIGINS=(ORIGIN,)).test_client()
    assert "Access-Control-Allow-Origin" not in preflight(client, origin).headers
    assert "Access-Control-Allow-Origin" not in client.get("/v1/messages", headers={"Origin": origin}).headers


def test_no_origins_configured_means_no_cross_origin_access(client):
    assert "Access-Control-Allow-Origin" not in preflight(client, ORIGIN).headers


@pytest.mark.parametrize("bad", ["*", "https://*.acme.test", "https://app.acme.test/path", "app.acme.test"])
def test_wildcards_and_non_origins_are_refused_at_start(app_factory, bad):
    with pytest.raises(ConfigError):
        app_factory(CORS_ORIGINS=(bad,))
