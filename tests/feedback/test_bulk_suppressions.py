"""A batch's suppressions when another transaction added one of them after the batch looked: the batch does not
fail, theirs stands unchanged, the others are added and audited once each (the batch looks for real, another
connection commits one of them, the real unique constraint decides)."""

from __future__ import annotations

import uuid

from sqlalchemy import func, insert, select

from mailer.extensions import atomic, db
from mailer.feedback import bulk_suppressions
from mailer.feedback.bulk_suppressions import NewSuppression, add_suppressions
from mailer.models import AuditEvent, Suppression, SuppressionReason, SuppressionScope
from tests.helpers import create_tenant


def test_an_entry_added_concurrently_falls_back_to_one_by_one_and_theirs_stands(app_factory, monkeypatch):
    app = app_factory()
    tenant_id = uuid.UUID(create_tenant(app)["tenant_id"])
    real_look = bulk_suppressions._existing

    def look_then_another_transaction_adds_one(keys):
        found = real_look(keys)  # the batch's own look: nothing there yet
        with db.engine.begin() as other:  # another connection commits this entry before the batch inserts
            other.execute(insert(Suppression).values(
                id=uuid.uuid4(), tenant_id=tenant_id, email="taken@example.com", scope=SuppressionScope.ALL.value,
                reason=SuppressionReason.MANUAL.value, detail="theirs"))
        return found

    with app.app_context():
        monkeypatch.setattr(bulk_suppressions, "_existing", look_then_another_transaction_adds_one)

        wanted = [NewSuppression(tenant_id, email, SuppressionScope.ALL, SuppressionReason.HARD_BOUNCE, detail="ours")
                  for email in ("new1@example.com", "Taken@example.com", "new2@example.com")]
        with atomic():  # the pipeline's transaction: its events' after-commit work registers on it
            add_suppressions(wanted)

        rows = {row.email: row for row in db.session.scalars(select(Suppression).where(
            Suppression.tenant_id == tenant_id))}
        assert set(rows) == {"new1@example.com", "taken@example.com", "new2@example.com"}
        assert (rows["taken@example.com"].reason, rows["taken@example.com"].detail) == ("manual", "theirs")
        assert rows["new1@example.com"].reason == rows["new2@example.com"].reason == "hard_bounce"
        created = db.session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.tenant_id == tenant_id, AuditEvent.action == "suppression.created"))
        assert created == 2


def test_an_entry_added_in_a_transaction_that_then_fails_is_not_stored(app_factory):
    """The entry's savepoint is part of the caller's transaction (on SQLite too, where a SAVEPOINT outside a
    transaction would become one and its RELEASE commit the entry before its audit event)."""
    import pytest

    from mailer.mail.suppressions import add_suppression

    app = app_factory()
    tenant_id = uuid.UUID(create_tenant(app)["tenant_id"])
    with app.app_context():
        with pytest.raises(RuntimeError, match="later step"), atomic():
            add_suppression(tenant_id, "gone@example.com", scope=SuppressionScope.ALL,
                            reason=SuppressionReason.MANUAL)
            add_suppressions([NewSuppression(tenant_id, "also@example.com", SuppressionScope.ALL,
                                             SuppressionReason.HARD_BOUNCE)])
            raise RuntimeError("a later step of the same transaction failed")
        db.session.rollback()
        assert db.session.scalar(select(func.count()).select_from(Suppression).where(
            Suppression.tenant_id == tenant_id)) == 0
