"""The delivery loop's claim reads recipients.priority (no join) and the roll-up skips counting a message
that stays `sending`, on a real database (SQLite or TEST_DATABASE_URL's PostgreSQL)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import select, update

from mailer.models import Message, MessageKind, Recipient, Tenant
from mailer.models.message import QUEUE_PRIORITY, queue_priority
from tests.helpers import create_tenant
from tests.rows import make_messages


def _tenant_id(app: Flask) -> uuid.UUID:
    from mailer.extensions import db

    with app.app_context():
        return db.session.scalars(select(Tenant.id)).one()


def _rolled_up_status(message_id: uuid.UUID) -> str:
    """Roll the message up, commit, and read its status back from the database."""
    from mailer.extensions import atomic, db
    from mailer.mail.recording import roll_up

    with atomic():
        roll_up([message_id])
    db.session.expire_all()
    return db.session.get(Message, message_id).status


def test_queue_priority_orders_critical_default_bulk():
    assert [queue_priority(q) for q in ("critical", "default", "bulk")] == [0, 1, 2]
    assert queue_priority("unknown") == QUEUE_PRIORITY["bulk"]


# commit=False: on PostgreSQL a claim with no expired rows leases and loads in one statement (the delivery loop's).
@pytest.mark.parametrize("commit", [True, False])
def test_claim_takes_expired_leases_then_critical_default_bulk_oldest_first(app: Flask, commit: bool):
    from mailer.extensions import db
    from mailer.mail.leases import claim_due_for_owner

    create_tenant(app)
    bulk = make_messages(app, 2, queue="bulk", prefix="bulk")
    default = make_messages(app, 2, queue="default", prefix="default")
    critical = make_messages(app, 1, queue="critical", prefix="critical")
    later = make_messages(app, 1, queue="critical", prefix="later",
                          send_at=datetime.now(UTC) + timedelta(hours=1))
    expired = make_messages(app, 1, queue="bulk", prefix="expired")
    owner = _tenant_id(app)
    with app.app_context():
        db.session.execute(update(Recipient).where(Recipient.id == expired[0]).values(
            status="sending", lease_until=datetime.now(UTC) - timedelta(seconds=5), claim_token="dead"))
        db.session.commit()
        first = claim_due_for_owner(owner, 4, 60, commit=commit)
        db.session.commit()
        rest = claim_due_for_owner(owner, 10, 60, commit=commit)
        db.session.commit()
        again = claim_due_for_owner(owner, 10, 60, commit=commit)
    assert first.ids[:2] == [expired[0], critical[0]]
    assert set(first.ids[2:]) == set(default)
    assert set(rest.ids) == set(bulk)  # created first, claimed last; the scheduled one is not due
    assert again.ids == []
    assert later[0] not in first.ids + rest.ids


def test_claim_takes_only_the_owners_rows(app: Flask):
    from mailer.extensions import db
    from mailer.mail.leases import claim_due_for_owner

    create_tenant(app)
    ours = make_messages(app, 2)
    other = create_tenant(app, "globex", "admin@globex.test")
    with app.app_context():
        assert claim_due_for_owner(uuid.UUID(other["tenant_id"]), 10, 60).ids == []
        db.session.rollback()
    with app.app_context():
        assert sorted(claim_due_for_owner(_tenant_id_of(app, "acme"), 10, 60).ids) == sorted(ours)


def test_an_uncommitted_claim_leases_at_most_its_limit_in_claim_order_with_its_messages(app: Flask):
    from mailer.extensions import db
    from mailer.mail.leases import claim_due_for_owner

    create_tenant(app)
    default = make_messages(app, 3, queue="default", prefix="default")
    critical = make_messages(app, 2, queue="critical", prefix="critical")
    owner = _tenant_id(app)
    with app.app_context():
        claims = []
        for limit in (1, 3, 10):
            claim = claim_due_for_owner(owner, limit, 60, expired=False, commit=False)
            assert claim.loaded is None or [r.id for r in claim.loaded] == claim.ids
            for recipient in claim.loaded or ():
                assert recipient.claim_token == claim.token and recipient.message.raw_mime
            db.session.commit()
            db.session.expunge_all()
            claims.append(claim.ids)
        leased = db.session.scalars(select(Recipient.id).where(Recipient.status == "sending")).all()
    assert claims[0] == [critical[0]]
    assert claims[1] == [critical[1], default[0], default[1]]
    assert claims[2] == [default[2]]
    assert sorted(leased) == sorted(default + critical)


def test_an_uncommitted_claim_of_a_shared_message_loads_it_once_for_every_row(app: Flask):
    from mailer.extensions import db
    from mailer.mail.leases import claim_due_for_owner

    create_tenant(app)
    [first] = make_messages(app, 1)
    owner = _tenant_id(app)
    with app.app_context():
        message = db.session.get(Recipient, first).message
        message.recipients.extend(Recipient(tenant_id=owner, position=i, email=f"copy{i}@example.com")
                                  for i in range(1, 6))
        db.session.commit()
        db.session.expunge_all()
        if db.engine.dialect.name != "postgresql":
            pytest.skip("the claim loads its rows on PostgreSQL only (elsewhere deliver_claim's _load does)")
        claim = claim_due_for_owner(owner, 10, 60, expired=False, commit=False)
        assert len(claim.ids) == 6
        loaded = claim.loaded
        assert loaded is not None
        assert all(r.message is loaded[0].message for r in loaded) and loaded[0].message.raw_mime
        db.session.rollback()


def test_an_uncommitted_claim_of_an_expired_attempt_says_it_was_interrupted(app: Flask):
    from mailer.extensions import db
    from mailer.mail.leases import claim_recipients

    create_tenant(app)
    rows = make_messages(app, 2)
    with app.app_context():
        db.session.execute(update(Recipient).where(Recipient.id.in_(rows)).values(
            status="sending", lease_until=datetime.now(UTC) - timedelta(seconds=5), claim_token="dead"))
        db.session.execute(update(Recipient).where(Recipient.id == rows[1]).values(
            attempt_started_at=datetime.now(UTC) - timedelta(seconds=70)))
        db.session.commit()
        claim = claim_recipients(list(reversed(rows)), 60, commit=False)
        db.session.commit()
    assert claim.ids == [rows[1], rows[0]]
    assert claim.interrupted == {rows[1]}


def _tenant_id_of(app: Flask, slug: str) -> uuid.UUID:
    from mailer.extensions import db

    return db.session.scalars(select(Tenant.id).where(Tenant.slug == slug)).one()


def test_system_mail_rows_are_critical(app: Flask):
    from mailer.extensions import db
    from mailer.mail.system_mail import build_system_message, mail_context
    from mailer.models import User

    create_tenant(app)
    with app.app_context():
        tenant = db.session.scalars(select(Tenant)).one()
        user = db.session.scalars(select(User)).one()
        message = build_system_message(app.config["MAILER"], tenant, user, MessageKind.PASSWORD_CHANGED,
                                       mail_context(tenant, user))
        assert [r.priority for r in message.recipients] == [QUEUE_PRIORITY["critical"]]


def test_roll_up_keeps_sending_while_rows_wait_and_finishes_with_the_last(app: Flask):
    from mailer.extensions import db

    create_tenant(app)
    ids = make_messages(app, 1)
    with app.app_context():
        row = db.session.get(Recipient, ids[0])
        message_id = row.message_id
        # A three-row message: one sent, one waiting, one being sent.
        for position, status in ((1, "queued"), (2, "sending")):
            db.session.add(Recipient(message_id=message_id, tenant_id=row.tenant_id, position=position,
                                     email=f"more{position}@example.com", status=status))
        row.status = "sent"
        db.session.commit()

        assert _rolled_up_status(message_id) == "sending"
        assert _rolled_up_status(message_id) == "sending"  # stays so without a count
        db.session.execute(update(Recipient).where(Recipient.message_id == message_id, Recipient.position == 2)
                           .values(status="failed"))
        assert _rolled_up_status(message_id) == "sending"
        db.session.execute(update(Recipient).where(Recipient.message_id == message_id, Recipient.position == 1)
                           .values(status="sent"))
        assert _rolled_up_status(message_id) == "partially_failed"


def test_roll_up_of_a_sending_message_whose_rows_all_went_back_is_queued(app: Flask):
    from mailer.extensions import db

    create_tenant(app)
    ids = make_messages(app, 1)
    with app.app_context():
        row = db.session.get(Recipient, ids[0])
        message_id = row.message_id
        db.session.execute(update(Message).where(Message.id == message_id).values(status="sending"))
        db.session.commit()
        # The row is queued again (released unattempted): nothing has started.
        assert _rolled_up_status(message_id) == "queued"
