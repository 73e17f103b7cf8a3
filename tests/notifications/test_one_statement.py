"""A one-message POST /v1/messages on PostgreSQL writes its rows in one statement (notifications/rows.py) of at
most psycopg's cached-parameter count: past it psycopg parses the statement's text again on every execution.
The columns it leaves out (NULLs) read back as NULL, and those with defaults keep them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from psycopg._queries import MAX_CACHED_STATEMENT_PARAMS
from sqlalchemy import event, select

from mailer.extensions import db
from mailer.models import AuditEvent, Message, Recipient
from mailer.models.message import DEFAULT_PRIORITY
from tests.fixtures import make_api_key, send
from tests.helpers import bearer


def _post(app, client, headers, **extra) -> tuple[str, list[tuple[str, Any]]]:
    with app.app_context():
        engine = db.engine
    statements: list[tuple[str, Any]] = []

    def seen(_conn, _cursor, statement, parameters, _context, _many) -> None:
        statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", seen)
    try:
        response = send(client, headers, **extra)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert response.status_code == 202, response.get_json()
    return response.get_json()["id"], [s for s in statements if s[0].lstrip().startswith("WITH")]


@pytest.fixture
def key_headers(app, client, acme_seeded) -> dict[str, Any]:
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("the one-statement write is PostgreSQL's")
    return bearer(make_api_key(client, acme_seeded.admin)["key"])


def test_the_write_keeps_under_psycopgs_cached_parameters(app, client, key_headers):
    message_id, [(_, parameters)] = _post(app, client, key_headers)
    assert len(parameters) <= MAX_CACHED_STATEMENT_PARAMS
    with app.app_context():
        recipient = db.session.scalars(select(Recipient).where(Recipient.message_id == message_id)).one()
        assert recipient.priority == DEFAULT_PRIORITY and recipient.job_id and recipient.attempts == 0
        assert (recipient.error_code, recipient.smtp_code, recipient.sent_at, recipient.next_attempt_at,
                recipient.lease_until, recipient.locale) == (None,) * 6
        message = db.session.get(Message, message_id)
        assert message.send_at is None and message.locale is None and message.status == "queued"
        assert db.session.scalars(select(AuditEvent).where(AuditEvent.action == "message.created")).one()


def test_a_column_given_a_value_is_written(app, client, key_headers):
    at = datetime.now(UTC) + timedelta(hours=1)
    message_id, [_] = _post(app, client, key_headers, send_at=at.isoformat(), locale="zh-CN")
    with app.app_context():
        recipient = db.session.scalars(select(Recipient).where(Recipient.message_id == message_id)).one()
        assert abs(recipient.next_attempt_at - at) < timedelta(seconds=1)
        message = db.session.get(Message, message_id)
        assert message.locale == "zh-CN" and abs(message.send_at - at) < timedelta(seconds=1)
