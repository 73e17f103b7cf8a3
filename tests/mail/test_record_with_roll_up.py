"""A one-message run's result with its roll-up (record_attempts' ``alone``): on PostgreSQL one statement writes
the result, its event and the message's status, which is the general roll-up's; it leaves the roll-up to the
caller whenever set_alone would (another recipient, a broadcast, a result not written), and the event is
recorded either way. Elsewhere the general path runs and nothing is rolled up with the result."""

from __future__ import annotations

import uuid

import pytest
from flask import Flask
from sqlalchemy import func, select, update

from mailer.models import DeliveryEvent, Message, MessageKind, Recipient
from mailer.smtp.results import ErrorCode, Outcome, RecipientResult
from tests.rows import add_second_recipient, make_messages

RESULTS = {
    "sent": RecipientResult("user0@example.com", Outcome.SENT, smtp_code=250),
    "failed": RecipientResult("user0@example.com", Outcome.FAILED, smtp_code=554, response="554 no",
                              error_code=ErrorCode.INVALID_MESSAGE),
    "deferred": RecipientResult("user0@example.com", Outcome.DEFERRED, smtp_code=451, response="451 later"),
}


def _record(app: Flask, rid: uuid.UUID, result: RecipientResult, *, alone: bool, token: str | None = None,
            ) -> tuple[bool, str, int]:
    """Claim ``rid``, record ``result`` (with ``alone`` its message), roll up as delivery does when that did not;
    returns (rolled up with the result, the message's status, its recipient's event count)."""
    from mailer.extensions import atomic, db
    from mailer.mail.leases import claim_recipients
    from mailer.mail.recording import Attempt, record_attempts, roll_up

    config = app.config["MAILER"]
    claim = claim_recipients([rid], config.DELIVERY_LEASE_SECONDS)
    recipient = db.session.get(Recipient, rid)
    message_id, tenant_id = recipient.message_id, recipient.tenant_id
    with atomic():
        recorded = record_attempts([Attempt(rid, tenant_id, 0, result)], token or claim.token, config,
                                   alone=message_id if alone else None)
        if not recorded.rolled_up:
            roll_up([message_id])
    db.session.expire_all()
    events = db.session.scalar(select(func.count()).where(DeliveryEvent.recipient_id == rid))
    return recorded.rolled_up, db.session.get(Message, message_id).status, events


def _on_postgresql() -> bool:
    from mailer.extensions import db

    return db.engine.dialect.name == "postgresql"


@pytest.mark.parametrize("before", ["queued", "sending", "scheduled"])
@pytest.mark.parametrize("outcome", list(RESULTS))
def test_the_status_rolled_up_with_the_result_is_the_general_roll_ups(fast_app: Flask, outcome: str,
                                                                      before: str) -> None:
    from mailer.extensions import db

    alone_rid, general_rid = make_messages(fast_app, 2)
    with fast_app.app_context():
        db.session.execute(update(Message).values(status=before))
        db.session.commit()
        rolled, alone_status, alone_events = _record(fast_app, alone_rid, RESULTS[outcome], alone=True)
        _, general_status, general_events = _record(fast_app, general_rid, RESULTS[outcome], alone=False)
        postgresql = _on_postgresql()
    assert (alone_status, alone_events) == (general_status, general_events) == (alone_status, 1)
    assert rolled == (postgresql and outcome != "deferred" and before != alone_status)


def test_a_message_with_another_recipient_is_left_to_the_general_roll_up(fast_app: Flask) -> None:
    [rid] = make_messages(fast_app, 1)
    with fast_app.app_context():
        add_second_recipient(rid)
        assert _record(fast_app, rid, RESULTS["sent"], alone=True) == (False, "sending", 1)


def test_a_broadcast_is_left_to_the_general_roll_up(fast_app: Flask) -> None:
    [rid] = make_messages(fast_app, 1, kind=MessageKind.BROADCAST.value)
    with fast_app.app_context():
        assert _record(fast_app, rid, RESULTS["sent"], alone=True) == (False, "sent", 1)


def test_a_result_another_run_holds_is_not_written_but_its_event_is(fast_app: Flask) -> None:
    [rid] = make_messages(fast_app, 1)
    with fast_app.app_context():
        rolled, status, events = _record(fast_app, rid, RESULTS["sent"], alone=True, token="another-token")
        assert (rolled, events) == (False, 1)
        assert status != "sent"
        from mailer.extensions import db

        assert db.session.get(Recipient, rid).status == "sending"


def test_a_roll_up_leaving_a_broadcast_unfinished_does_not_look_for_its_finished_event(fast_app: Flask) -> None:
    """Most roll-ups of a broadcast (one per window of results) leave it sending: no query for broadcast.finished;
    the one that finishes it still raises the event (tests/webhooks/test_delivery.py)."""
    from sqlalchemy import event

    from mailer.extensions import atomic, db
    from mailer.mail.recording import roll_up

    [rid] = make_messages(fast_app, 1, kind=MessageKind.BROADCAST.value)
    statements: list[str] = []

    def seen(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    with fast_app.app_context():
        add_second_recipient(rid)
        recipient = db.session.get(Recipient, rid)
        message_id = recipient.message_id
        db.session.execute(update(Recipient).where(Recipient.id == rid).values(status="sent"))
        db.session.commit()
        event.listen(db.engine, "before_cursor_execute", seen)
        try:
            with atomic():
                roll_up([message_id])
        finally:
            event.remove(db.engine, "before_cursor_execute", seen)
        assert db.session.get(Message, message_id).status == "sending"
    assert statements and not [s for s in statements if "messages.meta" in s]
