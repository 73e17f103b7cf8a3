"""POST /v1/domains/{id}/verify says, for each record, what the resolvers returned (the console shows it)."""

from __future__ import annotations

from tests.domains.conftest import add_domain, dkim_record, verify


def test_verify_shows_what_was_found(client, acme, dns_server):
    domain = add_domain(client, acme, "acme.com")
    assert all("found" not in r for r in domain["dns_records"])  # only a check says what it found
    dns_server.publish("TXT", dkim_record(domain)["name"], "v=DKIM1; k=rsa; p=AAAAother")
    checked = verify(client, acme, domain["id"])
    by_purpose = {r["purpose"]: r for r in checked["dns_records"]}
    assert by_purpose["dkim"]["found"] == ["v=DKIM1; k=rsa; p=AAAAother"] and by_purpose["dkim"]["status"] == "failed"
    assert by_purpose["dmarc"]["found"] is None and by_purpose["dmarc"]["status"] == "pending"
    assert "found" not in client.get(f"/v1/domains/{domain['id']}", headers=acme).get_json()["dns_records"][0]
