"""The one-statement roll-up (recording.set_alone) of a message whose one recipient a run just finished: it
gives exactly the status the general roll-up gives, and declines (leaving it to the general one) whenever that
is not sure: another recipient, a broadcast, a status a concurrent writer changed, a result not written."""

from __future__ import annotations

import uuid

import pytest
from flask import Flask
from sqlalchemy import event, select, update

from mailer.models import Message, MessageKind, Recipient, RecipientStatus
from tests.fixtures import Sink
from tests.rows import add_second_recipient, make_messages

FINAL = (RecipientStatus.SENT, RecipientStatus.FAILED)


def _message_of(recipient_id: uuid.UUID) -> uuid.UUID:
    from mailer.extensions import db

    return db.session.scalar(select(Recipient.message_id).where(Recipient.id == recipient_id))


def _write_then_roll_up(recipient_id: uuid.UUID, status: str, *, alone: bool) -> tuple[bool, str]:
    """In one transaction: give the recipient ``status``, then roll its message up (one statement when
    ``alone`` and set_alone applies, else the general roll-up). Returns (set alone, the message's status)."""
    from mailer.extensions import atomic, db
    from mailer.mail.recording import roll_up, set_alone

    message_id = _message_of(recipient_id)
    with atomic():
        db.session.execute(update(Recipient).where(Recipient.id == recipient_id).values(status=status))
        done = alone and set_alone(message_id, recipient_id, RecipientStatus(status))
        if not done:
            roll_up([message_id])
    db.session.expire_all()
    return done, db.session.get(Message, message_id).status


@pytest.mark.parametrize("before", ["queued", "sending", "scheduled"])
@pytest.mark.parametrize("written", list(RecipientStatus))
def test_set_alone_gives_the_general_roll_ups_status_for_every_written_status(
        fast_app: Flask, written: RecipientStatus, before: str) -> None:
    from mailer.extensions import db

    alone_rid, general_rid = make_messages(fast_app, 2)
    with fast_app.app_context():
        for rid in (alone_rid, general_rid):
            db.session.execute(update(Message).where(Message.id == _message_of(rid)).values(status=before))
        db.session.commit()
        done, alone_status = _write_then_roll_up(alone_rid, written, alone=True)
        _, general_status = _write_then_roll_up(general_rid, written, alone=False)
    assert alone_status == general_status
    assert done == (written in FINAL)  # a status that is not final always takes the general roll-up


def test_set_alone_declines_a_message_with_another_recipient(fast_app: Flask) -> None:
    [rid] = make_messages(fast_app, 1)
    with fast_app.app_context():
        add_second_recipient(rid)
        assert _write_then_roll_up(rid, "sent", alone=True) == (False, "sending")


def test_set_alone_declines_a_broadcast_whose_roll_up_announces_it(fast_app: Flask) -> None:
    [rid] = make_messages(fast_app, 1, kind=MessageKind.BROADCAST.value)
    with fast_app.app_context():
        assert _write_then_roll_up(rid, "sent", alone=True) == (False, "sent")


def test_set_alone_declines_a_status_a_concurrent_writer_changed(fast_app: Flask) -> None:
    """A bounce came between the result's write and the roll-up: the general roll-up counts it (failed)."""
    from mailer.extensions import atomic, db
    from mailer.mail.recording import roll_up, set_alone

    [rid] = make_messages(fast_app, 1)
    with fast_app.app_context():
        message_id = _message_of(rid)
        with atomic():
            db.session.execute(update(Recipient).where(Recipient.id == rid).values(status="sent"))
        with atomic():
            db.session.execute(update(Recipient).where(Recipient.id == rid).values(status="bounced"))
            assert not set_alone(message_id, rid, RecipientStatus.SENT)
            roll_up([message_id])
        db.session.expire_all()
        assert db.session.get(Message, message_id).status == "failed"


def test_a_result_another_run_holds_writes_no_final_status(fast_app: Flask) -> None:
    """Another attempt took the row (its claim token): the result is not written, so nothing is set alone."""
    from mailer.extensions import atomic, db
    from mailer.mail.leases import claim_recipients
    from mailer.mail.recording import Attempt, record_attempts
    from mailer.smtp.results import Outcome, RecipientResult

    [rid] = make_messages(fast_app, 1)
    config = fast_app.config["MAILER"]
    with fast_app.app_context():
        claim = claim_recipients([rid], config.DELIVERY_LEASE_SECONDS)
        sent = RecipientResult("user0@example.com", Outcome.SENT, smtp_code=250)
        tenant_id = db.session.get(Recipient, rid).tenant_id
        with atomic():
            lost = record_attempts([Attempt(rid, tenant_id, 0, sent)], "another-token", config)
        with atomic():
            won = record_attempts([Attempt(rid, tenant_id, 0, sent)], claim.token, config)
    assert lost.final == {} and won.final == {rid: RecipientStatus.SENT}


@pytest.mark.parametrize(("reply", "status"), [(None, "sent"), ("550 5.1.1 no such user", "failed")])
def test_a_one_message_run_rolls_up_in_one_statement(fast_app: Flask, sink: Sink, reply: str | None,
                                                     status: str) -> None:
    from mailer.extensions import db
    from mailer.mail.delivery import deliver_claim
    from mailer.mail.leases import claim_recipients

    [rid] = make_messages(fast_app, 1)
    if reply:
        sink.handler.rcpt_replies["user0@example.com"] = reply
    config = fast_app.config["MAILER"]
    statements: list[str] = []
    record = lambda *args: statements.append(args[2].lower())  # noqa: E731
    with fast_app.app_context():
        event.listen(db.engine, "before_cursor_execute", record)
        try:
            deliver_claim(claim_recipients([rid], config.DELIVERY_LEASE_SECONDS), config)
        finally:
            event.remove(db.engine, "before_cursor_execute", record)
        message = db.session.get(Message, _message_of(rid))
        assert (db.session.get(Recipient, rid).status, message.status) == (status, status)
    # On PostgreSQL the roll-up rides the result's statement (record_attempts' ``alone``); never the general count.
    rolled_up = [s for s in statements if "update messages" in s]
    assert len(rolled_up) == 1 and not any("group by" in s for s in statements)
