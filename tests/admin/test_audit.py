"""Audit events: listed per tenant, never holding secrets, chained so tampering is detected."""

from __future__ import annotations

import threading
import uuid

import pytest
from sqlalchemy import select, update

from mailer.security.address_digest import address_digest
from tests.conftest import TEST_DATABASE_URL
from tests.fixtures import make_api_key, send


def verify(app, slug):
    return app.test_cli_runner().invoke(args=["audit", "verify", slug])


def test_events_are_listed_filtered_and_shaped(client, acme_seeded, globex_seeded):
    send(client, acme_seeded.admin)
    make_api_key(client, acme_seeded.admin)
    make_api_key(client, globex_seeded.admin)
    body = client.get("/v1/audit-events", headers=acme_seeded.admin).get_json()
    actions = [e["action"] for e in body["items"]]
    assert body["total"] == len(actions)
    # newest first; the admin's logins are audited too
    assert [a for a in actions if not a.startswith("login.")] == ["api_key.created", "message.created"]
    assert "login.succeeded" in actions
    event = next(e for e in body["items"] if e["action"] == "api_key.created")
    assert set(event) >= {"id", "action", "actor_id", "ip", "at", "details"}
    assert event["actor_id"] == acme_seeded.admin_id and event["ip"] == "127.0.0.1" and event["at"].endswith("Z")
    only = client.get("/v1/audit-events?action=message.created", headers=acme_seeded.admin).get_json()
    assert only["total"] == 1 and only["items"][0]["action"] == "message.created"
    assert client.get("/v1/audit-events?action=api_key.created", headers=globex_seeded.admin).get_json()["total"] == 1
    assert client.get("/v1/audit-events?action=message.created", headers=globex_seeded.admin).get_json()["total"] == 0


def test_secrets_never_reach_details(app):
    with app.app_context():
        from mailer.audit import _clean

        cleaned = _clean({"password": "p", "new_password": "p", "refresh_token": "t", "api_key": "k",
                          "html": "<p>", "user_id": "u1", "api_key_id": "k1", "email": "a@b.test"})
        digest = address_digest(app.config["MAILER"], "a@b.test")  # no address either (API.md §11)
    assert cleaned == {"user_id": "u1", "api_key_id": "k1", "email": digest}


def test_chain_verifies_and_a_changed_row_is_named(app, client, acme_seeded):
    for _ in range(3):
        send(client, acme_seeded.admin)
    result = verify(app, "acme")
    assert result.exit_code == 0, result.output
    with app.app_context():
        from mailer.extensions import db
        from mailer.models import AuditEvent

        count = len(db.session.scalars(select(AuditEvent)).all())
    assert count >= 3 and f"{count} audit events" in result.output and "intact chain" in result.output
    with app.app_context():
        from mailer.extensions import db
        from mailer.models import AuditEvent

        second = db.session.scalars(select(AuditEvent).where(AuditEvent.seq == 2)).one().id
        # Someone with database access rewrites history, behind the application's back.
        db.session.execute(update(AuditEvent).where(AuditEvent.id == second).values(ip="10.9.9.9"))
        db.session.commit()
    result = verify(app, "acme")
    assert result.exit_code == 1
    assert str(second) in result.output and "hash" in result.output


def test_deleting_the_newest_event_breaks_the_chain(app, client, acme_seeded):
    send(client, acme_seeded.admin)
    send(client, acme_seeded.admin)
    with app.app_context():
        from mailer.extensions import db
        from mailer.models import AuditEvent

        last = db.session.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
        db.session.delete(last)
        db.session.commit()
    result = verify(app, "acme")
    assert result.exit_code == 1 and "head" in result.output


def test_verify_unknown_tenant_fails(app, acme_seeded):
    assert verify(app, "nope").exit_code != 0


@pytest.mark.skipif(not TEST_DATABASE_URL, reason="row locks need PostgreSQL; SQLite has one writer anyway")
def test_concurrent_writers_never_fork_the_chain(app_factory, acme_seeded):
    """Several processes' worth of sessions append to one tenant's chain at once; it stays one chain."""
    apps = [app_factory() for _ in range(4)]
    errors: list[BaseException] = []

    def write(app):
        try:
            with app.app_context():
                from mailer.audit import record_audit
                from mailer.extensions import atomic

                for _ in range(10):
                    with atomic():
                        record_audit("test.concurrent", tenant_id=uuid.UUID(acme_seeded.tenant_id))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(a,)) for a in apps]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    result = verify(apps[0], "acme")
    assert result.exit_code == 0, result.output
    with apps[0].app_context():
        from mailer.extensions import db
        from mailer.models import AuditEvent

        written = len(db.session.scalars(select(AuditEvent).where(AuditEvent.action == "test.concurrent")).all())
    assert written == 40 and "intact chain" in result.output
