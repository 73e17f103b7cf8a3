"""Domains are re-verified daily and a sender on a domain that failed or was deleted is reset (review N12)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from mailer.domains.recheck import recheck_due_domains
from mailer.extensions import db
from mailer.models import SendingDomain
from mailer.models.types import utcnow
from tests.domains.conftest import dkim_record, verified_domain


def _age_checks(app, days: int) -> None:
    with app.app_context():
        db.session.execute(update(SendingDomain).values(checked_at=utcnow() - timedelta(days=days)))
        db.session.commit()


def _recheck(app) -> int:
    with app.app_context():
        return recheck_due_domains()


def test_a_domain_whose_dkim_record_is_gone_fails_the_daily_check_and_its_sender_is_reset(app, client, acme,
                                                                                         dns_server):
    domain = verified_domain(client, acme, dns_server, "acme.com")
    assert client.patch("/v1/tenant", json={"mail_from": "hello@acme.com"}, headers=acme).status_code == 200
    assert _recheck(app) == 0  # checked just now: not due
    _age_checks(app, 2)
    assert _recheck(app) == 1  # due, still published: stays verified, sender kept
    assert client.get(f"/v1/domains/{domain['id']}", headers=acme).get_json()["status"] == "verified"
    assert client.get("/v1/tenant", headers=acme).get_json()["mail_from"] == "hello@acme.com"

    dns_server.withdraw(dkim_record(domain)["name"])  # the domain changed hands, or its owner removed us
    _age_checks(app, 2)
    assert _recheck(app) == 1
    assert client.get(f"/v1/domains/{domain['id']}", headers=acme).get_json()["status"] != "verified"
    assert client.get("/v1/tenant", headers=acme).get_json()["mail_from"] is None  # the operator's MAIL_FROM
    response = client.patch("/v1/tenant", json={"mail_from": "other@acme.com"}, headers=acme)
    assert response.status_code == 422  # not grandfathered
    actions = [e["action"] for e in client.get("/v1/audit-events", headers=acme).get_json()["items"]]
    assert "domain.status_changed" in actions and "tenant.mail_from_reset" in actions


def test_deleting_the_domain_resets_the_sender_on_it(app, client, acme, dns_server):
    domain = verified_domain(client, acme, dns_server, "acme.com")
    assert client.patch("/v1/tenant", json={"mail_from": "hello@acme.com"}, headers=acme).status_code == 200
    assert client.delete(f"/v1/domains/{domain['id']}", headers=acme).status_code == 204
    assert client.get("/v1/tenant", headers=acme).get_json()["mail_from"] is None
    assert client.patch("/v1/tenant", json={"mail_from": "billing@acme.com"}, headers=acme).status_code == 422
