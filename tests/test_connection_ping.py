"""extensions.ping_after_idle: a pooled connection idle for a while is pinged on checkout, and a dead one is
replaced before the caller's statement; one used moments ago is handed out without that round trip."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from mailer import extensions
from mailer.extensions import db
from tests.conftest import TEST_DATABASE_URL

pytestmark = pytest.mark.skipif(not TEST_DATABASE_URL, reason="ends a server backend: PostgreSQL only")


def _backend_pid() -> int:
    pid = db.session.scalar(text("SELECT pg_backend_pid()"))
    db.session.commit()  # the connection goes back to the pool
    return int(pid)


def _terminate(pid: int) -> None:
    other = create_engine(db.engine.url)
    try:
        with other.connect() as conn:
            assert conn.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        other.dispose()


def test_a_connection_idle_past_the_threshold_is_pinged_and_a_dead_one_replaced(app, monkeypatch):
    with app.app_context():
        dead = _backend_pid()
        _terminate(dead)
        monkeypatch.setattr(extensions, "PING_AFTER_IDLE_SECONDS", 0.0)
        assert _backend_pid() != dead


def test_a_connection_used_moments_ago_is_not_pinged(app, monkeypatch):
    """The price of skipping the ping: a backend that died since its last use fails one statement, after
    which the pool has been invalidated and the next one connects afresh."""
    monkeypatch.setattr(extensions, "PING_AFTER_IDLE_SECONDS", 3600.0)
    with app.app_context():
        dead = _backend_pid()
        _terminate(dead)
        with pytest.raises(OperationalError):
            _backend_pid()
        db.session.rollback()
        assert _backend_pid() != dead
