"""A one-message claim's commits (mail/delivery.py): the screening and the in-flight mark share the commit made
before the send; the result and the roll-up share the one after it, the roll-up in that transaction (no savepoint)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, select, update

from mailer.models import DeliveryEvent, Message, Recipient
from tests.fixtures import Sink
from tests.rows import make_messages


def _deliver(app: Flask, ids: list[Any]) -> None:
    from mailer.mail.delivery import deliver_claim
    from mailer.mail.leases import claim_recipients

    config = app.config["MAILER"]
    deliver_claim(claim_recipients(ids, config.DELIVERY_LEASE_SECONDS), config)


def _sent_at_each_commit(sink: Sink, deliver: Callable[[], None]) -> list[int]:
    """How many mails the sink had received at each commit made while ``deliver`` ran."""
    from mailer.extensions import db

    sent_at_commit: list[int] = []
    record = lambda *_: sent_at_commit.append(len(sink.messages))  # noqa: E731
    event.listen(db.engine, "commit", record)
    try:
        deliver()
    finally:
        event.remove(db.engine, "commit", record)
    return sent_at_commit


def test_a_one_message_claim_commits_the_mark_before_the_send_and_the_result_with_the_roll_up(
        fast_app: Flask, sink: Sink) -> None:
    from mailer.extensions import db

    [rid] = make_messages(fast_app, 1)
    with fast_app.app_context():
        # the claim; the mark (durable before DATA: nothing received yet); the result with the roll-up
        assert _sent_at_each_commit(sink, lambda: _deliver(fast_app, [rid])) == [0, 0, 1]
        row = db.session.get(Recipient, rid)
        assert row.status == "sent" and db.session.get(Message, row.message_id).status == "sent"


def test_a_failing_roll_up_undoes_itself_only_and_is_done_again(fast_app: Flask, sink: Sink,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from mailer.extensions import db
    from mailer.mail import delivery

    [rid] = make_messages(fast_app, 1)
    real_with_results, real_roll_up, calls = delivery._Run.roll_up, delivery.roll_up, []

    def failing(run: Any) -> None:
        calls.append("with the results")
        real_with_results(run)
        db.session.execute(update(Message).values(subject="half a roll-up"))
        raise RuntimeError("roll-up failed")

    def on_its_own(message_ids: Any) -> None:
        calls.append("on its own")
        real_roll_up(message_ids)

    monkeypatch.setattr(delivery._Run, "roll_up", failing)
    monkeypatch.setattr(delivery, "roll_up", on_its_own)
    with fast_app.app_context():
        _deliver(fast_app, [rid])
        db.session.expire_all()
        row = db.session.get(Recipient, rid)
        message = db.session.get(Message, row.message_id)
        assert row.status == "sent"
        assert db.session.scalars(select(DeliveryEvent.outcome).where(DeliveryEvent.recipient_id == rid)).all() \
            == ["sent"]
        assert calls == ["with the results", "on its own"]  # the first undone
        assert message.subject == "n0" and message.status == "sent"


def _claim_for_loop(app: Flask) -> Any:
    """The delivery loop's claim: left open for deliver_claim to commit with the first in-flight mark."""
    from mailer.extensions import db
    from mailer.mail.leases import claim_due_for_owner
    from mailer.models import Tenant

    tenant_id = db.session.scalars(select(Tenant.id)).one()
    return claim_due_for_owner(tenant_id, 20, app.config["MAILER"].DELIVERY_LEASE_SECONDS, commit=False)


def test_the_loops_claim_commits_with_the_mark_before_the_send(fast_app: Flask, sink: Sink) -> None:
    from mailer.extensions import db
    from mailer.mail.delivery import deliver_claim

    [rid] = make_messages(fast_app, 1)
    with fast_app.app_context():
        deliver = lambda: deliver_claim(_claim_for_loop(fast_app), fast_app.config["MAILER"])  # noqa: E731
        assert _sent_at_each_commit(sink, deliver) == [0, 1]
        assert db.session.get(Recipient, rid).status == "sent"


def test_a_loop_claim_cut_short_before_its_commit_leaves_its_rows_due(fast_app: Flask, sink: Sink,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from mailer.extensions import db
    from mailer.mail import delivery

    [rid] = make_messages(fast_app, 1)

    def broken(*_: Any) -> Any:
        raise RuntimeError("could not build")

    with fast_app.app_context():
        monkeypatch.setattr(delivery, "_build_mails", broken)
        with pytest.raises(RuntimeError):
            delivery.deliver_claim(_claim_for_loop(fast_app), fast_app.config["MAILER"])
        db.session.expire_all()
        row = db.session.get(Recipient, rid)
        assert (row.status, row.claim_token, row.attempt_started_at) == ("queued", None, None)
        monkeypatch.undo()
        delivery.deliver_claim(_claim_for_loop(fast_app), fast_app.config["MAILER"])
        assert db.session.get(Recipient, rid).status == "sent"
        assert len(sink.messages) == 1
