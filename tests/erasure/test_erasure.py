"""POST /v1/erasures (API.md §11): the address becomes a keyed digest everywhere in the tenant's data."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from email import message_from_bytes
from email.policy import default as default_policy

import pytest
from sqlalchemy import select, update

from mailer.extensions import atomic, db
from mailer.models import AuditEvent, AuthRequest, DeliveryEvent, Erasure, Message, Recipient, Tenant
from mailer.security.address_digest import address_digest
from tests.fixtures import add_users, drain
from tests.helpers import bearer, create_tenant, login

ANN = "ann@example.com"


@pytest.fixture
def app(app_factory, sink):
    app = app_factory(SMTP_PORT=sink.port)  # default retry delays: a deferred recipient stays deferred
    create_tenant(app)
    create_tenant(app, "globex", "boss@globex.test")
    sink.handler.rcpt_replies["ANN@example.com"] = "550 5.1.1 <ANN@example.com>: no such user"
    return app


def _send(client, headers, **body):
    response = client.post("/v1/messages", json={"subject": "Hi", "text": "Hello", **body}, headers=headers)
    assert response.status_code == 202, response.get_json()
    return uuid.UUID(response.get_json()["id"])


def _tenant_rows(app, slug):
    """Every text the tenant's messages, recipients, events and auth requests hold, lower-cased."""
    with app.app_context():
        tenant_id = db.session.scalar(select(Tenant.id).where(Tenant.slug == slug))
        texts = []
        for message in db.session.scalars(select(Message).where(Message.tenant_id == tenant_id)):
            texts += [message.subject, json.dumps(message.meta), json.dumps(message.tags),
                      (message.raw_mime or b"").decode("ascii", "replace")]
        for row in db.session.scalars(select(Recipient).where(Recipient.tenant_id == tenant_id)):
            texts += [row.email, row.name, row.smtp_response or "", row.last_error or ""]
        for event in db.session.scalars(select(DeliveryEvent).where(DeliveryEvent.tenant_id == tenant_id)):
            texts.append(event.response or "")
        for request in db.session.scalars(select(AuthRequest).where(AuthRequest.tenant_id == tenant_id)):
            texts += [request.email, request.name]
        for event in db.session.scalars(select(AuditEvent).where(AuditEvent.tenant_id == tenant_id)):
            texts.append(json.dumps(event.details))
        return "\n".join(texts).lower()


def test_an_erased_address_is_found_nowhere_in_the_tenant_and_the_audit_chain_still_verifies(app, sink, redis):
    """Sent and failed mail, replies, events and stored copies (html included) all hold the digest afterwards;
    the other recipient and the other tenant keep their data; audit holds the digest only."""
    client = app.test_client()
    acme = bearer(login(client, "acme", "admin@acme.test"))
    globex = bearer(login(client, "globex", "boss@globex.test"))
    both = _send(client, acme, to=[{"email": ANN, "name": "Ann Example"}], cc=["bob@example.com"],
                 subject=f"For {ANN}", html=f"<p>Dear <b>{ANN}</b>, caf\u00e9</p>", metadata={"who": ANN})
    _send(client, acme, to=["ANN@example.com"])
    _send(client, globex, to=[ANN])
    drain(app, redis)
    assert ANN in _tenant_rows(app, "acme")

    response = client.post("/v1/erasures", json={"email": "Ann@Example.COM"}, headers=acme)
    assert response.status_code == 202
    assert response.get_json()["status"] == "done"

    acme_rows = _tenant_rows(app, "acme")
    assert ANN not in acme_rows
    assert "ann example" not in acme_rows
    digest = address_digest(app.config["MAILER"], ANN)
    assert digest in acme_rows and "bob@example.com" in acme_rows
    assert ANN in _tenant_rows(app, "globex")
    assert client.get("/v1/messages", query_string={"email": ANN}, headers=acme).get_json()["total"] == 0
    assert client.get("/v1/messages", query_string={"email": ANN}, headers=globex).get_json()["total"] == 1
    with app.app_context():
        copy = message_from_bytes(db.session.get(Message, both).raw_mime, policy=default_policy)
        assert digest in str(copy["To"]) and "bob@example.com" in str(copy["Cc"])
        html = copy.get_body(("html",)).get_content()
        assert f"<b>{digest}</b>" in html and "caf\u00e9" in html
        erasure = db.session.scalars(select(Erasure)).one()
        assert erasure.sealed_address is None
    audit = client.get("/v1/audit-events", query_string={"action": "data.erased"}, headers=acme).get_json()
    assert [e["details"] for e in audit["items"]] == [{"erasure_id": str(erasure.id), "erased_as": digest}]
    verified = app.test_cli_runner().invoke(args=["audit", "verify", "acme"])
    assert verified.exit_code == 0, verified.output


def test_mail_still_in_flight_is_erased_by_a_later_purge_once_delivered(app, sink, redis):
    """A deferred recipient keeps its address (delivery needs it) and the erasure stays pending; once
    the mail is delivered, `flask purge` finishes the erasure."""
    sink.handler.rcpt_replies[ANN] = "451 4.3.0 try again later"
    client = app.test_client()
    headers = bearer(login(client, "acme", "admin@acme.test"))
    message_id = _send(client, headers, to=[ANN, "bob@example.com"])
    drain(app, redis)
    assert client.post("/v1/erasures", json={"email": ANN}, headers=headers).get_json()["status"] == "pending"
    assert ANN in _tenant_rows(app, "acme")
    with app.app_context():
        assert db.session.scalars(select(Erasure.sealed_address)).one() not in (None, ANN)

    del sink.handler.rcpt_replies[ANN]
    with app.app_context():
        db.session.execute(update(Recipient).where(Recipient.status == "deferred")
                           .values(next_attempt_at=datetime.now(UTC)))
        db.session.commit()
    redis.flushdb()  # drops the retry's job (30 s away): the sweep enqueues the row now
    app.test_cli_runner().invoke(args=["sweep"])
    drain(app, redis)
    assert [m.rcpt_tos for m in sink.messages][-1] == [ANN]  # delivered with the address, before erasure
    report = json.loads(app.test_cli_runner().invoke(args=["purge"]).stdout)
    assert (report["erasures_done"], report["erasures_pending"]) == (1, 0)
    assert ANN not in _tenant_rows(app, "acme")
    detail = client.get(f"/v1/messages/{message_id}", headers=headers).get_json()
    assert sorted(r["status"] for r in detail["recipients"]) == ["sent", "sent"]


def test_sign_up_requests_and_their_mail_are_erased(app, sink, redis):
    """A processed sign-up request and the verification mail it caused hold the digest afterwards."""
    client = app.test_client()
    body = {"tenant": "acme", "email": ANN, "password": "long enough pw", "name": "Ann Example"}
    assert client.post("/v1/auth/register", json=body).status_code == 202
    drain(app, redis)
    assert [m.rcpt_tos for m in sink.messages] == [[ANN]]
    assert ANN in _tenant_rows(app, "acme")
    admin = bearer(login(client, "acme", "admin@acme.test"))
    response = client.post("/v1/erasures", json={"email": ANN}, headers=admin)
    assert response.get_json()["status"] == "done"
    assert ANN not in _tenant_rows(app, "acme")
    with app.app_context():
        request = db.session.scalars(select(AuthRequest)).one()
        assert (request.email, request.name) == (address_digest(app.config["MAILER"], ANN), "")


def test_erasure_is_for_admins_and_needs_an_address(app):
    """A user is refused (403); a malformed address is 422 on `email`; nothing is recorded."""
    client = app.test_client()
    with app.app_context():
        tenant_id = str(db.session.scalar(select(Tenant.id).where(Tenant.slug == "acme")))
    add_users(app, tenant_id, ["uma@acme.test"])
    user = bearer(login(client, "acme", "uma@acme.test"))
    assert client.post("/v1/erasures", json={"email": ANN}, headers=user).status_code == 403
    bad = client.post("/v1/erasures", json={"email": "not an address"},
                      headers=bearer(login(client, "acme", "admin@acme.test")))
    assert bad.status_code == 422
    assert bad.get_json()["errors"][0]["field"] == "email"
    with app.app_context():
        assert db.session.scalars(select(Erasure)).all() == []


def test_the_audit_log_stores_a_digest_where_a_caller_passes_an_address(app):
    """record_audit masks any address in details, so no audit record holds one, and the chain verifies."""
    from mailer.audit import record_audit

    with app.app_context():
        tenant_id = db.session.scalar(select(Tenant.id).where(Tenant.slug == "acme"))
        with atomic():
            event = record_audit("suppression.created", tenant_id=tenant_id,
                                 details={"note": f"to {ANN}", "list": [ANN]})
        digest = address_digest(app.config["MAILER"], ANN)
        assert event.details == {"note": f"to {digest}", "list": [digest]}
    assert app.test_cli_runner().invoke(args=["audit", "verify", "acme"]).exit_code == 0
