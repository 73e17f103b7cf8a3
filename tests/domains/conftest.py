"""Domain fixtures: a dnslib DNS server the app resolves through (DNS_RESOLVERS), tenants, DKIM checks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dkim
import pytest
from flask import Flask
from flask.testing import FlaskClient

from mailer.domains.lookup import lookup_txt, make_resolver
from tests.domains.dnsserver import DnsServer
from tests.tenant_admins import acme, admin_of, globex  # noqa: F401 - shared fixtures


@pytest.fixture
def dns_server() -> Iterator[DnsServer]:
    server = DnsServer().start()
    yield server
    server.stop()


@pytest.fixture
def app(app_factory: Any, dns_server: DnsServer) -> Flask:
    return app_factory(DNS_RESOLVERS=(dns_server.address,), MAIL_FROM="no-reply@mailer.test")


def dkim_record(domain: dict[str, Any], selector: str | None = None) -> dict[str, Any]:
    selector = selector or domain["dkim_selector"]
    [record] = [r for r in domain["dns_records"] if r["purpose"] == "dkim" and r["name"].startswith(f"{selector}.")]
    return record


def publish_dkim(dns_server: DnsServer, domain: dict[str, Any]) -> None:
    record = dkim_record(domain)
    dns_server.publish("TXT", record["name"], record["value"])


def add_domain(client: FlaskClient, admin: dict[str, Any], name: str) -> dict[str, Any]:
    response = client.post("/v1/domains", json={"name": name}, headers=admin)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def verify(client: FlaskClient, admin: dict[str, Any], domain_id: str) -> dict[str, Any]:
    response = client.post(f"/v1/domains/{domain_id}/verify", headers=admin)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def verified_domain(client: FlaskClient, admin: dict[str, Any], dns_server: DnsServer, name: str) -> dict[str, Any]:
    domain = add_domain(client, admin, name)
    publish_dkim(dns_server, domain)
    domain = verify(client, admin, domain["id"])
    assert domain["status"] == "verified"
    return domain


def dkim_verifies(message: bytes, dns_server: DnsServer) -> bool:
    """dkimpy's own verify, its key fetched from the test DNS server over UDP."""
    resolver = make_resolver([dns_server.address])

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes:
        found = lookup_txt(resolver, name.decode().rstrip("."))
        return found[0].encode() if found else b""

    return bool(dkim.verify(message, dnsfunc=dnsfunc))
