"""N10/L10: one SSRF predicate for relays and webhooks (IPv4 embedded in IPv6), relay ports, generic errors."""

from __future__ import annotations

import pytest

from mailer.smtp import public_ip
from mailer.webhooks import guard
from tests.relays.conftest import admin_of, put_relay

# Each embeds a loopback, private or metadata IPv4 address: a NAT64/SIIT translator or a 6to4 relay on the path
# would carry the connection there.
EMBEDDED = [
    "::127.0.0.1",                 # IPv4-compatible
    "::ffff:127.0.0.1",            # IPv4-mapped
    "::ffff:0:7f00:1",             # SIIT (IPv4-translated)
    "64:ff9b::a9fe:a9fe",          # NAT64 well-known prefix → 169.254.169.254
    "64:ff9b::a00:1",              # NAT64 → 10.0.0.1
    "64:ff9b:1:a9fe:a9:fe00::",    # NAT64 local-use /48 → 169.254.169.254
    "2002:7f00:1::1",              # 6to4 of 127.0.0.1
    "2002:a00:1::",                # 6to4 of 10.0.0.1
    "2002:a9fe:a9fe::1",           # 6to4 of 169.254.169.254
]
PUBLIC = ["8.8.8.8", "2001:4860:4860::8888", "64:ff9b::808:808", "2002:808:808::1", "::ffff:8.8.8.8"]


def test_relays_and_webhooks_share_one_predicate():
    assert guard.is_public is public_ip.is_public
    from mailer.smtp import addresses

    assert addresses.is_public is public_ip.is_public


@pytest.mark.parametrize("address", EMBEDDED)
def test_an_embedded_private_ipv4_is_not_public(address):
    assert not public_ip.is_public(address)


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_and_their_embedded_forms_are_public(address):
    assert public_ip.is_public(address)


@pytest.mark.parametrize("address", EMBEDDED)
def test_a_relay_on_an_embedded_private_address_is_a_422(app_factory, address):
    app = app_factory()
    client = app.test_client()
    admin = admin_of(app, client, "acme")
    response = client.put("/v1/tenant/smtp", json={"host": f"[{address}]", "port": 587, "encryption": "starttls"},
                          headers=admin)
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["errors"][0]["field"] == "host"


@pytest.mark.parametrize(("port", "status"), [(8080, 422), (22, 422), (6379, 422), (587, 200), (465, 200)])
def test_a_relay_port_outside_relay_ports_is_a_422(app_factory, port, status):
    """Without RELAY_ALLOW_PRIVATE only RELAY_PORTS (25, 465, 587, 2525) may be used: no port scanning."""
    app = app_factory()
    client = app.test_client()
    admin = admin_of(app, client, "acme")
    response = client.put("/v1/tenant/smtp", json={"host": "8.8.8.8", "port": port, "encryption": "ssl"},
                          headers=admin)
    assert response.status_code == status, response.get_json()
    if status == 422:
        assert response.get_json()["errors"][0]["field"] == "port"


def test_relay_ports_can_be_widened_by_the_operator(app_factory):
    app = app_factory(RELAY_PORTS=(587, 8025))
    client = app.test_client()
    admin = admin_of(app, client, "acme")
    response = client.put("/v1/tenant/smtp", json={"host": "8.8.8.8", "port": 8025, "encryption": "ssl"},
                          headers=admin)
    assert response.status_code == 200, response.get_json()


def test_a_refused_and_an_unresolvable_relay_read_the_same(client, acme):
    """The relay test does not tell "refused" from "no such host" or a timeout, and names no errno or address."""
    from tests.smtp.smtpd import free_port

    errors = []
    for host in ("127.0.0.1", "no-such-host.invalid"):
        put_relay(client, acme, {"host": host, "port": free_port(), "encryption": "starttls"})
        body = client.post("/v1/tenant/smtp/test", headers=acme).get_json()
        assert body["ok"] is False
        errors.append(body["error"])
    assert errors[0] == errors[1] == "connection failed: the relay could not be reached"


def test_a_sender_sees_no_relay_internals(client, acme, smtp_server, worker):
    """L10: the deferral a sender reads names no errno, exception type, address or port."""
    from tests.relays.conftest import recipient, send
    from tests.smtp.smtpd import free_port

    port = free_port()
    put_relay(client, acme, {"host": "127.0.0.1", "port": port, "encryption": "starttls"})
    message = send(client, acme)
    worker()
    row = recipient(client, acme, message)
    assert row["status"] == "deferred" and row["last_error"] == "connection failed: the relay could not be reached"
    detail = client.get(f"/v1/messages/{message['id']}/events", headers=acme)
    text = str(row) + (detail.get_data(as_text=True) if detail.status_code == 200 else "")
    assert str(port) not in text and "Errno" not in text and "Refused" not in text
