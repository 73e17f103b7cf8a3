"""N8: domain verification answers within 5 s in all (a slow DNS server cannot hold a web worker for 25 s),
and is rate-limited per tenant."""

from __future__ import annotations

import time
from typing import Any

from tests.domains.conftest import add_domain
from tests.domains.dnsserver import DnsServer


class _SlowZone:
    """Every answer of the real zone, 1.8 s late: each lookup is within its own timeout, their sum is not."""

    def __init__(self, zone: Any) -> None:
        self.zone = zone

    def resolve(self, request: Any, handler: Any) -> Any:
        time.sleep(1.8)
        return self.zone.resolve(request, handler)


def test_a_slow_dns_server_cannot_hold_verify_past_five_seconds(app_factory):
    from tests.domains.conftest import admin_of

    slow = DnsServer()
    slow._server.server.resolver = _SlowZone(slow.zone)
    slow.start()
    try:
        app = app_factory(DNS_RESOLVERS=(slow.address,), MAIL_FROM="no-reply@mailer.test",
                          BOUNCE_DOMAIN="bounces.mailer.test")
        client = app.test_client()
        admin = admin_of(app, client, "acme")
        domain = add_domain(client, admin, "slow.example")
        started = time.monotonic()
        response = client.post(f"/v1/domains/{domain['id']}/verify", headers=admin)
        took = time.monotonic() - started
    finally:
        slow.stop()
    assert response.status_code == 503, response.get_json()  # nothing concluded, nothing changed
    assert took < 6.0, took
    assert client.get(f"/v1/domains/{domain['id']}", headers=admin).get_json()["status"] == "pending"


def test_verify_is_rate_limited_per_tenant(app_factory, dns_server):
    from tests.domains.conftest import admin_of

    app = app_factory(DNS_RESOLVERS=(dns_server.address,), MAIL_FROM="no-reply@mailer.test",
                      RATELIMIT_DOMAIN_VERIFY="2/minute")
    client = app.test_client()
    acme, globex = admin_of(app, client, "acme"), admin_of(app, client, "globex")
    mine, theirs = add_domain(client, acme, "a.example"), add_domain(client, globex, "b.example")
    codes = [client.post(f"/v1/domains/{mine['id']}/verify", headers=acme).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    assert client.post(f"/v1/domains/{theirs['id']}/verify", headers=globex).status_code == 200
