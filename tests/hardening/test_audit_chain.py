"""The audit chain: events from sign-up and forgot-password verify, the chain is keyed (a database
writer cannot recompute it), old keys verify during a SECRETS_KEY rotation, and each new head is logged."""

from __future__ import annotations

import contextlib
import hashlib
import logging

from cryptography.fernet import Fernet
from sqlalchemy import select, update

from mailer.audit import canonical_content, record_audit
from mailer.extensions import atomic, db
from mailer.models import AuditEvent, Tenant
from tests.helpers import register


def verify(app, slug="acme"):
    return app.test_cli_runner().invoke(args=["audit", "verify", slug])


def _events():
    return db.session.scalars(select(AuditEvent).order_by(AuditEvent.seq)).all()


def _content(event: AuditEvent) -> bytes:
    return canonical_content(tenant_id=event.tenant_id, seq=event.seq, prev_hash=event.prev_hash,
                             action=event.action, actor_id=event.actor_id, actor_type=event.actor_type,
                             ip=event.ip, at=event.at, details=event.details)


def test_sign_up_and_forgot_password_events_verify_with_their_ip(app, client, worker, admin):
    """The worker writes these events with the stored client address, before hashing: verify exits 0."""
    assert register(client, "ann@example.com").status_code == 202
    client.post("/v1/auth/forgot-password", json={"tenant": "acme", "email": "admin@acme.test"})
    worker()
    result = verify(app)
    assert result.exit_code == 0, result.output
    with app.app_context():
        by_action = {e.action: e for e in _events()}
        assert by_action["user.registered"].ip == "127.0.0.1"
        assert by_action["password.reset_requested"].ip == "127.0.0.1"


def test_a_rewrite_recomputed_without_the_key_is_detected(app, client, admin):
    """Edit an event and recompute every later hash and the head, as the old unkeyed chain allowed."""
    for _ in range(3):
        client.post("/v1/api-keys", json={"name": "k"}, headers=admin)
    assert verify(app).exit_code == 0
    with app.app_context():
        events = _events()
        events[1].details = {**events[1].details, "name": "forged"}
        prev = events[0].hash
        for event in events[1:]:
            event.prev_hash = prev
            event.hash = hashlib.sha256(_content(event)).hexdigest()  # the algorithm is public; the key is not
            prev = event.hash
        db.session.execute(update(Tenant).values(audit_head=prev))
        db.session.commit()
        forged = str(events[1].id)
    result = verify(app)
    assert result.exit_code == 1 and forged in result.output and "hash" in result.output


def test_events_signed_with_an_older_secrets_key_verify_during_rotation(app_factory):
    """A chain written under key A verifies with (B, A); with B alone and no `secrets rotate`, the keyring (and so
    the chain) cannot be read: reported, exit 1 (the full rotation: tests/security/test_rotation.py)."""
    from tests.helpers import create_tenant

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    first = app_factory(SECRETS_KEY=(old,))
    create_tenant(first)
    with first.app_context():
        tenant = db.session.scalars(select(Tenant)).one()
        with atomic():
            record_audit("user.changed", tenant_id=tenant.id, actor_type="system", ip="192.0.2.1")
    assert verify(app_factory(SECRETS_KEY=(new, old))).exit_code == 0
    assert verify(app_factory(SECRETS_KEY=(new,))).exit_code == 1


def test_each_committed_head_is_logged_and_a_rolled_back_one_is_not(app, admin, caplog):
    """The head goes to the log pipeline after commit, so a truncation shows against it."""
    caplog.set_level(logging.INFO, logger="mailer.audit")
    with app.app_context():
        tenant = db.session.scalars(select(Tenant)).one()
        with contextlib.suppress(LookupError), atomic():
            record_audit("user.changed", tenant_id=tenant.id, actor_type="system")
            raise LookupError("rolled back")
        assert not [r for r in caplog.records if r.getMessage() == "audit chain head"]
        with atomic():
            event = record_audit("user.changed", tenant_id=tenant.id, actor_type="system")
        (logged,) = [r for r in caplog.records if r.getMessage() == "audit chain head"]
        assert (logged.audit_seq, logged.audit_head) == (event.seq, event.hash)
        assert logged.tenant_id == str(tenant.id)
