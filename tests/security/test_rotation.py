"""A full SECRETS_KEY rotation as the README says it (old → new,old + `secrets rotate` → new only) keeps
everything working (API.md §6, review N7): the audit chain verifies, an erased and suppressed address stays
suppressed, a pending erasure finishes, an unsubscribe link from before works, webhooks sign; and one
unreadable webhook secret fails that endpoint's deliveries only."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any

from cryptography.fernet import Fernet
from flask import Flask
from sqlalchemy import select, update

from mailer.extensions import db
from mailer.models import Erasure, Recipient, Tenant, WebhookDelivery, WebhookEndpoint
from mailer.security.secret_box import SecretBox
from mailer.webhooks.rounds import UNREADABLE
from tests.fixtures import add_users, drain
from tests.helpers import bearer, create_tenant, login
from tests.webhooks.receiver import Receiver
from tests.webhooks.rig import dispatch

OLD, NEW = Fernet.generate_key().decode(), Fernet.generate_key().decode()
LINK = re.compile(r"<http://mailer\.test/unsubscribe/([a-z2-7]+)>")
SETTINGS = {"BOUNCE_DOMAIN": "bounces.mailer.test", "WEBHOOK_ALLOW_PRIVATE": True,
            "WEBHOOK_RETRY_DELAYS": (1, 1), "WEBHOOK_TIMEOUT_SECONDS": 2.0}


def _admin(app: Flask, slug: str, email: str) -> tuple[Any, dict[str, Any]]:
    client = app.test_client()
    return client, bearer(login(client, slug, email))


def _status_of(app: Flask, message_id: str, email: str) -> tuple[str, str | None]:
    with app.app_context():
        row = db.session.scalars(select(Recipient).where(Recipient.message_id == uuid.UUID(message_id),
                                                         Recipient.email == email)).one()
        return row.status, row.error_code


def _send(client: Any, headers: dict[str, Any], to: str) -> str:
    response = client.post("/v1/messages", json={"to": [to], "subject": "Hi", "text": "Hello"}, headers=headers)
    assert response.status_code == 202, response.get_json()
    return response.get_json()["id"]


def test_a_full_rotation_keeps_audit_suppressions_erasures_links_and_webhooks_working(app_factory, sink, redis):
    before = app_factory(SMTP_PORT=sink.port, SECRETS_KEY=(OLD,), **SETTINGS)
    create_tenant(before)
    create_tenant(before, "globex", "boss@globex.test")
    with before.app_context():
        acme_id = str(db.session.scalar(select(Tenant.id).where(Tenant.slug == "acme")))
    add_users(before, acme_id, ["ann@example.com"])
    client, acme = _admin(before, "acme", "admin@acme.test")
    _, globex = _admin(before, "globex", "boss@globex.test")

    # An unsubscribe link in a broadcast copy delivered before the rotation.
    assert client.post("/v1/broadcasts", json={"subject": "News", "text": "Hi", "audience": {"roles": ["user"]}},
                       headers=acme).status_code == 202
    drain(before, redis)
    [copy] = [m for m in sink.messages if m.rcpt_tos == ["ann@example.com"]]
    token = LINK.search(copy.message["List-Unsubscribe"]).group(1)
    # Carl suppressed, then erased: only his digest is left, and it must keep blocking him.
    assert client.post("/v1/suppressions", json={"email": "carl@example.com"}, headers=acme).status_code == 201
    assert client.post("/v1/erasures", json={"email": "carl@example.com"}, headers=acme).get_json()["status"] == "done"
    # Dave's mail is deferred: his erasure stays pending, with his address sealed.
    sink.handler.rcpt_replies["dave@example.com"] = "451 4.3.0 try again later"
    _send(client, acme, "dave@example.com")
    drain(before, redis)
    assert client.post("/v1/erasures", json={"email": "dave@example.com"}, headers=acme).get_json()["status"] \
        == "pending"
    # Both tenants' webhooks.
    receiver = Receiver().start()
    try:
        hooks = {}
        for headers in (acme, globex):
            created = client.post("/v1/webhooks", json={"url": receiver.url, "events": ["message.sent"]},
                                  headers=headers).get_json()
            receiver.secrets.append(created["secret"])
            hooks[created["id"]] = headers

        rotating = app_factory(SMTP_PORT=sink.port, SECRETS_KEY=(NEW, OLD), **SETTINGS)
        result = rotating.test_cli_runner().invoke(args=["secrets", "rotate"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["resealed"]["erasures.sealed_address"] == 1

        after = app_factory(SMTP_PORT=sink.port, SECRETS_KEY=(NEW,), **SETTINGS)
        client, acme = _admin(after, "acme", "admin@acme.test")
        for slug in ("acme", "globex"):
            verified = after.test_cli_runner().invoke(args=["audit", "verify", slug])
            assert verified.exit_code == 0, verified.output
        blocked = _send(client, acme, "carl@example.com")
        assert _status_of(after, blocked, "carl@example.com") == ("failed", "suppressed")

        page = after.test_client().post(f"/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"})
        assert page.status_code == 200 and b'data-status="unsubscribed"' in page.data

        del sink.handler.rcpt_replies["dave@example.com"]
        with after.app_context():
            db.session.execute(update(Recipient).where(Recipient.status == "deferred")
                               .values(next_attempt_at=datetime.now(UTC)))
            db.session.commit()
        redis.flushdb()
        after.test_cli_runner().invoke(args=["sweep"])
        drain(after, redis)
        report = json.loads(after.test_cli_runner().invoke(args=["purge"]).stdout)
        assert (report["erasures_done"], report["erasures_pending"], report["erasures_unreadable"]) == (1, 0, 0)

        # One tenant's secret becomes unreadable (sealed under a key no one lists): the other's webhooks go on.
        with after.app_context():
            broken = db.session.scalars(select(WebhookEndpoint).join(Tenant).where(Tenant.slug == "globex")).one()
            broken.secret_sealed = SecretBox([Fernet.generate_key().decode()]).seal("whsec_x", context="elsewhere")
            broken_id = broken.id
            db.session.commit()
        for webhook_id, headers in hooks.items():
            assert after.test_client().post(f"/v1/webhooks/{webhook_id}/test", headers=headers).status_code == 202
        dispatch(after, redis)
        assert "webhook.test" in [json.loads(r.body)["type"] for r in receiver.ok()]
        with after.app_context():
            rows = db.session.scalars(select(WebhookDelivery)).all()
            assert {(d.status, d.last_error) for d in rows if d.endpoint_id == broken_id} == {("pending", UNREADABLE)}
            assert {d.status for d in rows if d.endpoint_id != broken_id} == {"succeeded"}
            assert db.session.scalars(select(Erasure.last_error)).all() == [None, None]
    finally:
        receiver.stop()


def test_dropping_the_key_before_the_rotation_is_reported_not_a_traceback(app_factory):
    """The keyring sealed under a key no longer listed: `audit verify` says so and exits 1, `secrets rotate`
    counts it unreadable; nothing is recreated under the new key (that would orphan every signature)."""
    before = app_factory(SECRETS_KEY=(OLD,))
    create_tenant(before)
    _admin(before, "acme", "admin@acme.test")  # a login: audited, so the keyring exists
    stranger = app_factory(SECRETS_KEY=(NEW,))
    verified = stranger.test_cli_runner().invoke(args=["audit", "verify", "acme"])
    assert verified.exit_code == 1 and "hmac_keyring" in verified.output
    rotated = stranger.test_cli_runner().invoke(args=["secrets", "rotate"])
    assert rotated.exit_code == 1 and json.loads(rotated.stdout)["unreadable"] == {"hmac_keyring.sealed": 1}
    assert before.test_cli_runner().invoke(args=["audit", "verify", "acme"]).exit_code == 0
