"""Who may set which sender (API.md §10): a tenant admin only on its verified domains or the operator's."""

from __future__ import annotations

from tests.domains.conftest import add_domain, verified_domain
from tests.helpers import bearer, create_tenant, login


def _patch(client, admin, address):
    return client.patch("/v1/tenant", json={"mail_from": address}, headers=admin)


def test_an_unverified_or_foreign_domain_is_422(client, acme, globex, dns_server):
    """Another tenant's verified domain, an added but unverified one, or any other → 422 on mail_from."""
    verified_domain(client, globex, dns_server, "globex.com")
    add_domain(client, acme, "acme.com")
    for address in ("billing@globex.com", "hello@acme.com", "x@unverified.example"):
        response = _patch(client, acme, address)
        assert response.status_code == 422, address
        assert response.get_json()["errors"][0]["field"] == "mail_from"
    assert client.get("/v1/tenant", headers=acme).get_json()["mail_from"] == "news@acme.test"


def test_a_verified_domain_of_the_tenant_is_accepted(client, acme, dns_server):
    """Once acme.com verifies, the admin may send as any address on it (domain compared case-insensitively)."""
    verified_domain(client, acme, dns_server, "acme.com")
    response = _patch(client, acme, "Hello@ACME.com")
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["mail_from"] == "Hello@acme.com"


def test_the_operators_domain_and_the_current_senders_domain_are_accepted(client, acme):
    """The operator's MAIL_FROM domain, and another local part on the domain the operator gave the tenant."""
    assert _patch(client, acme, "acme@mailer.test").status_code == 200
    assert _patch(client, acme, "news@acme.test").status_code == 422  # no longer its sender's domain
    assert _patch(client, acme, "support@mailer.test").status_code == 200


def test_the_operator_cli_is_not_restricted(app, client):
    """`tenants create --mail-from` takes any domain; its admin may then pick another local part there."""
    create_tenant(app, "initech", "admin@initech.test", mail_from="news@initech.example")
    admin = bearer(login(client, "initech", "admin@initech.test"))
    assert client.get("/v1/tenant", headers=admin).get_json()["mail_from"] == "news@initech.example"
    assert _patch(client, admin, "hello@initech.example").status_code == 200
