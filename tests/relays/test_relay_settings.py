"""PUT|GET|DELETE /v1/tenant/smtp and the test connection (API.md §10)."""

from __future__ import annotations

import pytest

from tests.relays.conftest import RELAY_PASSWORD, admin_of, put_relay


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "10.1.2.3", "169.254.169.254", "100.64.0.1", "[::1]",
                                  "0.0.0.0", "unresolvable.invalid"])
def test_a_private_or_unresolvable_host_is_refused_without_the_flag(app_factory, host):
    """Without RELAY_ALLOW_PRIVATE: loopback, private, link-local, shared or unresolvable host → 422 on host."""
    app = app_factory()
    client = app.test_client()
    admin = admin_of(app, client, "acme")
    response = client.put("/v1/tenant/smtp", json={"host": host, "port": 587, "encryption": "starttls"},
                          headers=admin)
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["errors"][0]["field"] == "host"
    assert client.get("/v1/tenant/smtp", headers=admin).status_code == 404


def test_put_then_get_never_shows_the_password(client, acme, relay):
    """The password is write-only: neither PUT's nor GET's answer holds it; has_password says it is set."""
    response = client.put("/v1/tenant/smtp", json=relay.settings(), headers=acme)
    assert response.status_code == 200 and RELAY_PASSWORD not in response.get_data(as_text=True)
    shown = client.get("/v1/tenant/smtp", headers=acme)
    assert RELAY_PASSWORD not in shown.get_data(as_text=True)
    body = shown.get_json()
    assert {k: body[k] for k in ("host", "port", "encryption", "username", "verify_tls", "has_password")} == {
        "host": "127.0.0.1", "port": relay.port, "encryption": "starttls", "username": "acme-relay",
        "verify_tls": True, "has_password": True}


def test_the_password_is_kept_only_for_the_same_host_and_user(client, acme, relay):
    """A PUT without password keeps it for the same host, port and user; another host starts without one."""
    put_relay(client, acme, relay.settings())
    settings = relay.settings(verify_tls=False)
    del settings["password"]
    assert put_relay(client, acme, settings)["has_password"] is True
    settings["host"] = "localhost"
    assert put_relay(client, acme, settings)["has_password"] is False


def test_bad_settings_are_422(client, acme, relay):
    """Credentials over plaintext to a non-loopback host, a password without user, a bad port or encryption."""
    cases = [
        ({"host": "10.1.2.3", "port": 25, "encryption": "none", "username": "u", "password": "p"}, "encryption"),
        ({"host": "10.1.2.3", "port": 465, "encryption": "ssl", "password": "p"}, "password"),
        ({"host": "10.1.2.3", "port": 0, "encryption": "ssl"}, "port"),
        ({"host": "10.1.2.3", "port": 25, "encryption": "tls"}, "encryption"),
        ({"host": "bad host!", "port": 25, "encryption": "ssl"}, "host"),
        ({"host": "10.1.2.3", "port": 25, "encryption": "ssl", "tenant_id": "x"}, "tenant_id"),
    ]
    for body, field in cases:
        response = client.put("/v1/tenant/smtp", json=body, headers=acme)
        assert response.status_code == 422, body
        assert response.get_json()["errors"][0]["field"] == field, body


def test_delete_returns_to_the_operators_relay(client, acme, relay):
    """DELETE → 204 (also when there is none); GET is then 404."""
    put_relay(client, acme, relay.settings())
    assert client.delete("/v1/tenant/smtp", headers=acme).status_code == 204
    assert client.get("/v1/tenant/smtp", headers=acme).status_code == 404
    assert client.delete("/v1/tenant/smtp", headers=acme).status_code == 204


def test_each_tenant_sees_only_its_own_relay(client, acme, globex, relay):
    """Another tenant's relay is never shown, tested or removed."""
    put_relay(client, acme, relay.settings())
    assert client.get("/v1/tenant/smtp", headers=globex).status_code == 404
    assert client.post("/v1/tenant/smtp/test", headers=globex).status_code == 404
    client.delete("/v1/tenant/smtp", headers=globex)
    assert client.get("/v1/tenant/smtp", headers=acme).status_code == 200


def test_the_test_connection_greets_starts_tls_authenticates_and_quits(client, acme, relay):
    """ok with each step's reply: connect 220, ehlo 250, starttls 220, ehlo 250, auth 235, quit 221."""
    put_relay(client, acme, relay.settings())
    body = client.post("/v1/tenant/smtp/test", headers=acme).get_json()
    assert body["ok"] is True and body["error"] is None
    assert [(s["step"], s["reply"][:3]) for s in body["steps"]] == [
        ("connect", "220"), ("ehlo", "250"), ("starttls", "220"), ("ehlo", "250"), ("auth", "235"), ("quit", "221")]
    assert relay.authenticator.attempts == ["acme-relay"]


def test_a_wrong_password_fails_the_test_at_auth(client, acme, relay):
    """ok false, the auth step shows the 535, the error says so; the password appears nowhere."""
    put_relay(client, acme, relay.settings(password="wrong-password-123"))
    response = client.post("/v1/tenant/smtp/test", headers=acme)
    body = response.get_json()
    assert body["ok"] is False and "535" in body["error"]
    assert body["steps"][-1]["step"] == "auth" and body["steps"][-1]["reply"].startswith("535")
    assert "wrong-password-123" not in response.get_data(as_text=True)


def test_an_untrusted_certificate_fails_the_test_at_tls(app_factory, relay):
    """TLS is verified as for the operator's relay: a CA not trusted → ok false with a TLS failure."""
    app = app_factory(RELAY_ALLOW_PRIVATE=True)
    client = app.test_client()
    admin = admin_of(app, client, "acme")
    put_relay(client, admin, relay.settings())
    body = client.post("/v1/tenant/smtp/test", headers=admin).get_json()
    # L10: no certificate detail (which name, which CA) reaches the tenant.
    assert body["ok"] is False and body["error"] == "TLS failure: the TLS handshake with the relay failed"
    assert relay.authenticator.attempts == []


def test_a_relay_that_is_down_fails_the_test_at_connect(client, acme):
    """Nothing listening: ok false, no steps, a connection error."""
    from tests.smtp.smtpd import free_port

    put_relay(client, acme, {"host": "127.0.0.1", "port": free_port(), "encryption": "starttls"})
    body = client.post("/v1/tenant/smtp/test", headers=acme).get_json()
    assert body == {"ok": False, "steps": [], "error": body["error"]} and "connection failed" in body["error"]


def test_without_a_relay_the_test_is_404_and_relays_are_admin_only(app, client, acme):
    """No tenant relay → 404; a plain user may not read or set one (403)."""
    from tests.fixtures import add_users
    from tests.helpers import bearer, login

    assert client.post("/v1/tenant/smtp/test", headers=acme).status_code == 404
    tenant_id = client.get("/v1/auth/me", headers=acme).get_json()["tenant"]["id"]
    add_users(app, tenant_id, ["user@acme.test"])
    user = bearer(login(client, "acme", "user@acme.test"))
    assert client.get("/v1/tenant/smtp", headers=user).status_code == 403
    assert client.put("/v1/tenant/smtp", json={"host": "10.0.0.1", "port": 25, "encryption": "ssl"},
                      headers=user).status_code == 403
