"""extensions.atomic(): after-commit actions run only once the commit succeeded, in order, once per key."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from mailer.audit import record_audit
from mailer.extensions import atomic, current_unit, db, savepoint
from mailer.models import AuditEvent, Tenant


def _add_tenant() -> uuid.UUID:
    tenant_id = uuid.uuid4()
    db.session.add(Tenant(id=tenant_id, slug=f"t-{tenant_id.hex[:8]}", name="Unit of work"))
    return tenant_id


def _committed(tenant_id: uuid.UUID) -> bool:
    """Whether another connection sees the tenant (so its transaction has committed)."""
    with db.engine.connect() as other:
        return bool(other.scalar(select(func.count()).select_from(Tenant).where(Tenant.id == tenant_id)))


def test_actions_run_after_the_commit(app):
    """An action sees the block's rows committed; it has not run while the block is open."""
    seen: list[bool] = []
    with app.app_context():
        with atomic() as unit:
            tenant_id = _add_tenant()
            unit.after_commit(lambda: seen.append(_committed(tenant_id)))
            db.session.flush()
            assert seen == []
        assert seen == [True]


def test_no_action_runs_after_a_rollback(app):
    """A block that raises rolls back, and its actions are dropped."""
    ran: list[str] = []
    with app.app_context():
        with pytest.raises(RuntimeError, match="refused"), atomic() as unit:
            tenant_id = _add_tenant()
            unit.after_commit(lambda: ran.append("enqueue"))
            raise RuntimeError("refused")
        assert ran == []
        assert not _committed(tenant_id)
        with atomic():  # the next unit starts empty
            pass
        assert ran == []


def test_no_action_runs_when_the_commit_fails(app):
    """A commit that fails (here a duplicate key) raises and runs nothing."""
    ran: list[str] = []
    with app.app_context():
        with atomic():
            _add_tenant()
        slug = db.session.scalar(select(Tenant.slug))
        with pytest.raises(IntegrityError), atomic() as unit:
            db.session.add(Tenant(id=uuid.uuid4(), slug=slug, name="Duplicate"))
            unit.after_commit(lambda: ran.append("enqueue"))
        assert ran == []


def test_actions_run_in_registration_order(app):
    """Actions run in the order they were registered, a joined inner block's among them."""
    ran: list[int] = []
    with app.app_context():
        with atomic() as unit:
            unit.after_commit(lambda: ran.append(1))
            with atomic() as inner:
                assert inner is unit
                inner.after_commit(lambda: ran.append(2))
                assert ran == []  # an inner block does not commit
            current_unit().after_commit(lambda: ran.append(3))
        assert ran == [1, 2, 3]


def test_a_key_keeps_one_action_in_its_first_place(app):
    """Under one key the latest action replaces the earlier one, at the earlier one's place."""
    ran: list[str] = []

    def note(text: str) -> Callable[[], None]:
        return lambda: ran.append(text)

    with app.app_context():
        with atomic() as unit:
            unit.after_commit(note("head 1"), key="audit head")
            unit.after_commit(note("nudge"), key="nudge")
            unit.after_commit(note("head 2"), key="audit head")
            unit.after_commit(note("nudge again"), key="nudge")
            unit.after_commit(note("unkeyed"))
        assert ran == ["head 2", "nudge again", "unkeyed"]


def test_every_action_runs_before_a_failure_is_raised(app):
    """The data is committed: one failing action does not stop the others, and its error is raised after them."""
    ran: list[str] = []

    def fail() -> None:
        raise ValueError("redis down")

    with app.app_context():
        with pytest.raises(ValueError, match="redis down"), atomic() as unit:
            tenant_id = _add_tenant()
            unit.after_commit(fail)
            unit.after_commit(lambda: ran.append("second"))
        assert ran == ["second"]
        assert _committed(tenant_id)


def test_work_that_needs_a_commit_action_refuses_to_run_outside_a_unit(app):
    """A step that registers after-commit work (an audit event) raises outside atomic(), never loses it."""
    with app.app_context():
        with atomic():
            tenant_id = _add_tenant()
        with pytest.raises(RuntimeError, match="atomic"):
            current_unit()
        with pytest.raises(RuntimeError, match="atomic"):
            record_audit("tenant.updated", tenant_id=tenant_id)
        db.session.rollback()
        assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == 0


def test_no_global_session_listener_remains(app):
    """No SQLAlchemy session hook does work behind a plain commit: the app's session has no listener at all."""
    with app.app_context():
        session = db.session()
        for name in ("after_begin", "before_commit", "after_commit", "after_rollback", "after_soft_rollback",
                     "after_transaction_end"):
            assert list(getattr(session.dispatch, name)) == [], name


def _kept_and_undone() -> tuple[uuid.UUID, uuid.UUID]:
    """One tenant added in a savepoint that ends, one in a savepoint that raises: their ids."""
    with savepoint():
        kept = _add_tenant()
        db.session.flush()
    with pytest.raises(RuntimeError, match="undone"), savepoint():
        undone = _add_tenant()
        db.session.flush()
        raise RuntimeError("undone")
    return kept, undone


def test_a_savepoint_undoes_its_own_writes_and_the_transaction_still_decides_the_rest(app):
    """Inside atomic(): a savepoint that raises undoes only its rows, one that ends keeps them, and the
    transaction's rollback undoes them all — also on SQLite, where the driver would otherwise let the
    first savepoint's RELEASE commit (the block's first writes are in that savepoint)."""
    with app.app_context():
        with pytest.raises(RuntimeError, match="after"), atomic():
            db.session.execute(select(func.count()).select_from(Tenant))  # a read first: no write has begun
            kept, _ = _kept_and_undone()
            assert not _committed(kept)
            raise RuntimeError("after")
        assert not _committed(kept)
        with atomic():
            kept, undone = _kept_and_undone()
        assert _committed(kept)
        assert not _committed(undone)
