"""Sending domains over the API (API.md §10): records, verification by real DNS, rotation, isolation."""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_der_public_key

from mailer.domains.keys import parse_tags
from tests.domains.conftest import add_domain, dkim_record, publish_dkim, verified_domain, verify


def test_create_returns_a_fresh_2048_bit_key_and_the_records_to_publish(client, acme):
    """201 with status pending, a selector, the DKIM TXT at <selector>._domainkey.<name> holding a 2048-bit key."""
    domain = add_domain(client, acme, "Acme.COM.")
    assert domain["name"] == "acme.com" and domain["status"] == "pending"
    record = dkim_record(domain)
    assert record["type"] == "TXT" and record["status"] == "pending"
    assert record["name"] == f"{domain['dkim_selector']}._domainkey.acme.com"
    tags = parse_tags(record["value"])
    assert tags["v"] == "DKIM1" and tags["k"] == "rsa"
    key = load_der_public_key(base64.b64decode(tags["p"]))
    assert isinstance(key, rsa.RSAPublicKey) and key.key_size == 2048
    purposes = [r["purpose"] for r in domain["dns_records"]]
    assert purposes == ["dkim", "spf", "dmarc"]  # no BOUNCE_DOMAIN: no return-path CNAME
    other = add_domain(client, acme, "acme.org")
    assert parse_tags(dkim_record(other)["value"])["p"] != tags["p"]  # a key per domain


def test_with_bounce_domain_a_return_path_cname_is_asked_for_and_checked(app_factory, dns_server, client):
    """BOUNCE_DOMAIN set: a CNAME bounces.<name> → BOUNCE_DOMAIN record, pending until published, then verified."""
    from tests.domains.conftest import admin_of

    app = app_factory(DNS_RESOLVERS=(dns_server.address,), BOUNCE_DOMAIN="bounce.mailer.test")
    client = app.test_client()
    admin = admin_of(app, client, "acme")
    domain = add_domain(client, admin, "acme.com")
    [cname] = [r for r in domain["dns_records"] if r["purpose"] == "return_path"]
    assert cname == {"type": "CNAME", "name": "bounces.acme.com", "value": "bounce.mailer.test",
                     "status": "pending", "purpose": "return_path"}
    dns_server.publish("CNAME", "bounces.acme.com", "bounce.mailer.test")
    checked = verify(client, admin, domain["id"])
    assert [r["status"] for r in checked["dns_records"] if r["purpose"] == "return_path"] == ["verified"]
    assert checked["status"] == "pending"  # only the DKIM record decides


def test_missing_record_is_pending_then_published_record_verifies(client, acme, dns_server):
    """Verify looks the record up at once: missing → pending; published → verified (record and domain)."""
    domain = add_domain(client, acme, "acme.com")
    checked = verify(client, acme, domain["id"])
    assert checked["status"] == "pending" and dkim_record(checked)["status"] == "pending"
    assert checked["checked_at"] is not None
    assert (dkim_record(domain)["name"], "TXT") in dns_server.queries  # it really asked our DNS server
    publish_dkim(dns_server, domain)
    checked = verify(client, acme, domain["id"])
    assert checked["status"] == "verified" and dkim_record(checked)["status"] == "verified"
    assert checked["verified_at"] is not None
    assert client.get(f"/v1/domains/{domain['id']}", headers=acme).get_json()["status"] == "verified"


def test_a_record_with_another_key_fails(client, acme, dns_server):
    """A DKIM TXT that holds a different key → failed, and the domain is not verified."""
    domain = add_domain(client, acme, "acme.com")
    other = add_domain(client, acme, "acme.org")
    dns_server.publish("TXT", dkim_record(domain)["name"], dkim_record(other)["value"])
    checked = verify(client, acme, domain["id"])
    assert checked["status"] == "failed" and dkim_record(checked)["status"] == "failed"


def test_spf_and_dmarc_advice_is_checked(client, acme, dns_server):
    """SPF with the advised include and any DMARC policy show verified; an SPF without the include, failed."""
    domain = add_domain(client, acme, "acme.com")
    [spf] = [r for r in domain["dns_records"] if r["purpose"] == "spf"]
    assert spf["name"] == "acme.com" and spf["value"] == "v=spf1 include:mailer.test ~all"
    dns_server.publish("TXT", "acme.com", "v=spf1 include:elsewhere.example -all")
    dns_server.publish("TXT", "_dmarc.acme.com", "v=DMARC1; p=reject")
    statuses = {r["purpose"]: r["status"] for r in verify(client, acme, domain["id"])["dns_records"]}
    assert statuses == {"dkim": "pending", "spf": "failed", "dmarc": "verified"}
    dns_server.withdraw("acme.com")
    dns_server.publish("TXT", "acme.com", spf["value"])
    statuses = {r["purpose"]: r["status"] for r in verify(client, acme, domain["id"])["dns_records"]}
    assert statuses["spf"] == "verified"


def test_dns_that_cannot_answer_is_503_and_changes_nothing(app_factory, client):
    """Resolvers that do not answer: 503 unavailable problem, and the domain keeps its status."""
    from tests.domains.conftest import admin_of
    from tests.domains.dnsserver import free_udp_port

    app = app_factory(DNS_RESOLVERS=(f"127.0.0.1:{free_udp_port()}",))
    client = app.test_client()
    admin = admin_of(app, client, "acme")
    domain = add_domain(client, admin, "acme.com")
    response = client.post(f"/v1/domains/{domain['id']}/verify", headers=admin)
    assert response.status_code == 503 and response.content_type == "application/problem+json"
    assert response.get_json()["code"] == "unavailable"
    after = client.get(f"/v1/domains/{domain['id']}", headers=admin).get_json()
    assert after["status"] == "pending" and after["checked_at"] is None


def test_rotation_keeps_the_old_key_until_the_new_one_verifies(client, acme, dns_server):
    """Rotate: a new selector, the old record stays verified; verifying the new one drops the old key."""
    domain = verified_domain(client, acme, dns_server, "acme.com")
    old = domain["dkim_selector"]
    rotated = client.post(f"/v1/domains/{domain['id']}/rotate-dkim", headers=acme).get_json()
    new = rotated["dkim_selector"]
    assert new != old and rotated["status"] == "verified"
    assert dkim_record(rotated, new)["status"] == "pending" and dkim_record(rotated, old)["status"] == "verified"
    assert verify(client, acme, domain["id"])["status"] == "verified"  # new one not yet published: old still signs
    publish_dkim(dns_server, rotated)
    done = verify(client, acme, domain["id"])
    assert done["status"] == "verified" and done["dkim_selector"] == new
    assert [r["name"] for r in done["dns_records"] if r["purpose"] == "dkim"] == [f"{new}._domainkey.acme.com"]


def test_rotating_an_unverified_domain_replaces_its_key(client, acme):
    """Before anything verified, a rotation leaves only the new key to publish."""
    domain = add_domain(client, acme, "acme.com")
    rotated = client.post(f"/v1/domains/{domain['id']}/rotate-dkim", headers=acme).get_json()
    assert rotated["status"] == "pending"
    assert [r["name"] for r in rotated["dns_records"] if r["purpose"] == "dkim"] == [
        f"{rotated['dkim_selector']}._domainkey.acme.com"]


def test_list_get_delete(client, acme):
    """The tenant's domains are listed and paged; DELETE → 204, then 404."""
    first, second = add_domain(client, acme, "acme.com"), add_domain(client, acme, "acme.org")
    listed = client.get("/v1/domains", headers=acme).get_json()
    assert [d["id"] for d in listed["items"]] == [first["id"], second["id"]] and listed["total"] == 2
    assert client.delete(f"/v1/domains/{first['id']}", headers=acme).status_code == 204
    assert client.get(f"/v1/domains/{first['id']}", headers=acme).status_code == 404
    assert client.get("/v1/domains", headers=acme).get_json()["total"] == 1


def test_another_tenants_domain_is_404(client, acme, globex):
    """Every route of another tenant's domain answers 404, and lists never show it."""
    domain = add_domain(client, acme, "acme.com")
    base = f"/v1/domains/{domain['id']}"
    assert client.get(base, headers=globex).status_code == 404
    assert client.post(f"{base}/verify", headers=globex).status_code == 404
    assert client.post(f"{base}/rotate-dkim", headers=globex).status_code == 404
    assert client.delete(base, headers=globex).status_code == 404
    assert client.get("/v1/domains", headers=globex).get_json()["total"] == 0
    assert client.get("/v1/domains/not-a-uuid", headers=acme).status_code == 404
    assert client.get(base, headers=acme).status_code == 200


def test_bad_names_and_duplicates_are_422(client, acme):
    """Not a domain (IP, one label, bad characters) or one the tenant has → 422 on field name."""
    for name in ("192.0.2.1", "localhost", "exa mple.com", "-acme.com", "acme.123", "a" * 64 + ".com"):
        response = client.post("/v1/domains", json={"name": name}, headers=acme)
        assert response.status_code == 422, name
        assert response.get_json()["errors"][0]["field"] == "name"
    add_domain(client, acme, "acme.com")
    assert client.post("/v1/domains", json={"name": "ACME.com"}, headers=acme).status_code == 422
    assert add_domain(client, acme, "bücher.example")["name"] == "xn--bcher-kva.example"


def test_domains_are_admin_only(app, client, acme):
    """A plain user is refused (403), a caller without a token 401."""
    from tests.fixtures import add_users
    from tests.helpers import bearer, login

    tenant_id = client.get("/v1/auth/me", headers=acme).get_json()["tenant"]["id"]
    add_users(app, tenant_id, ["user@acme.test"])
    user = bearer(login(client, "acme", "user@acme.test"))
    assert client.post("/v1/domains", json={"name": "acme.com"}, headers=user).status_code == 403
    assert client.get("/v1/domains").status_code == 401
