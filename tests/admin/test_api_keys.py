"""API keys: shown once, stored hashed, act as role service, revocation immediate, last_used_at kept."""

from __future__ import annotations

import hashlib

from sqlalchemy import select

from tests.fixtures import make_api_key, send
from tests.helpers import bearer


def test_key_is_shown_once_and_stored_only_as_a_hash(app, client, acme_seeded):
    created = make_api_key(client, acme_seeded.admin, "billing")
    assert created["key"].startswith("mk_") and len(created["key"]) >= 40
    assert created["name"] == "billing"
    listed = client.get("/v1/api-keys", headers=acme_seeded.admin).get_json()
    assert listed["total"] == 1
    assert "key" not in listed["items"][0] and "key_hash" not in listed["items"][0]
    assert created["key"] not in str(listed)
    with app.app_context():
        from mailer.extensions import db
        from mailer.models import ApiKey, AuditEvent

        row = db.session.scalars(select(ApiKey)).one()
        assert row.key_hash == hashlib.sha256(created["key"].encode()).hexdigest()
        stored = " ".join(str(getattr(row, c.key)) for c in ApiKey.__table__.columns)
        assert created["key"] not in stored
        audit = [str(e.details) for e in db.session.scalars(select(AuditEvent))]
        assert not any(created["key"] in text or created["key"][3:] in text for text in audit)


def test_key_sends_as_service_and_records_last_use(client, acme_seeded):
    key = make_api_key(client, acme_seeded.admin)
    assert key.get("last_used_at") is None
    response = send(client, bearer(key["key"]))
    assert response.status_code == 202, response.get_json()
    message = client.get(f"/v1/messages/{response.get_json()['id']}", headers=bearer(key["key"])).get_json()
    assert message["created_by"] == key["id"]
    listed = client.get("/v1/api-keys", headers=acme_seeded.admin).get_json()["items"][0]
    assert listed["last_used_at"] is not None


def test_revoked_key_stops_working_at_once(client, acme_seeded):
    key = make_api_key(client, acme_seeded.admin)
    headers = bearer(key["key"])
    assert client.get("/v1/messages", headers=headers).status_code == 200
    assert client.delete(f"/v1/api-keys/{key['id']}", headers=acme_seeded.admin).status_code == 204
    response = client.get("/v1/messages", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert client.get("/v1/api-keys", headers=acme_seeded.admin).get_json()["total"] == 0
    assert client.delete(f"/v1/api-keys/{key['id']}", headers=acme_seeded.admin).status_code == 404
    actions = [e["action"] for e in client.get("/v1/audit-events", headers=acme_seeded.admin).get_json()["items"]]
    assert actions[:2] == ["api_key.revoked", "message.created"] or "api_key.revoked" in actions
    assert "api_key.created" in actions


def test_made_up_and_foreign_keys_are_refused(client, acme_seeded, globex_seeded):
    assert client.get("/v1/messages", headers=bearer("mk_" + "A" * 43)).status_code == 401
    assert client.get("/v1/messages", headers=bearer("mk_")).status_code == 401
    key = make_api_key(client, globex_seeded.admin)
    # globex's key sees globex's world only, and acme's admin cannot revoke it.
    assert client.delete(f"/v1/api-keys/{key['id']}", headers=acme_seeded.admin).status_code == 404
    assert client.get("/v1/api-keys", headers=acme_seeded.admin).get_json()["total"] == 0
    sent = send(client, acme_seeded.admin).get_json()["id"]
    assert client.get(f"/v1/messages/{sent}", headers=bearer(key["key"])).status_code == 404


def test_key_of_a_disabled_tenant_is_refused(app, client, acme_seeded):
    key = make_api_key(client, acme_seeded.admin)
    with app.app_context():
        from mailer.extensions import db
        from mailer.models import Tenant

        db.session.get(Tenant, __import__("uuid").UUID(acme_seeded.tenant_id)).is_active = False
        db.session.commit()
    assert client.get("/v1/messages", headers=bearer(key["key"])).status_code == 401
