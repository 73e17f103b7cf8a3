"""L12: no answer that carries a token, key or secret may be stored by a cache; L7: /metrics needs a token."""

from __future__ import annotations

from tests.conftest import FERNET_KEY
from tests.helpers import ADMIN_PASSWORD, bearer, create_tenant


def _no_store(response) -> None:
    assert response.headers.get("Cache-Control") == "no-store", (response.status_code, response.headers)


def test_token_and_secret_answers_are_not_stored(app, client):
    create_tenant(app)
    login = client.post("/v1/auth/login", json={"tenant": "acme", "email": "admin@acme.test",
                                                "password": ADMIN_PASSWORD})
    assert login.status_code == 200
    _no_store(login)
    body = login.get_json()
    refresh = client.post("/v1/auth/refresh", json={"refresh_token": body["refresh_token"]})
    assert refresh.status_code == 200, refresh.get_json()
    _no_store(refresh)
    admin = bearer(refresh.get_json()["access_token"])
    key = client.post("/v1/api-keys", json={"name": "ci"}, headers=admin)
    assert key.status_code == 201, key.get_json()
    _no_store(key)
    _no_store(client.get("/v1/auth/me", headers=admin))
    _no_store(client.post("/v1/auth/login", json={"tenant": "acme", "email": "admin@acme.test", "password": "x"}))


def test_metrics_without_a_token_is_404_outside_debug_even_from_loopback(app_factory):
    client = app_factory(TESTING=False, SECRETS_KEY=(FERNET_KEY,)).test_client()
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1"}).status_code == 404
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "::1"}).status_code == 404


def test_metrics_with_a_token_outside_debug(app_factory):
    client = app_factory(TESTING=False, SECRETS_KEY=(FERNET_KEY,),
                         METRICS_TOKEN="scrape-secret-0123456789").test_client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers=bearer("scrape-secret-0123456789")).status_code == 200
