"""A run whose lease ran out (its renewal starved) and whose rows another run took sends none of them:
the window's in-flight mark finds the rows gone and the run stops before the next mail (mail/delivery.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import update

from mailer.models import Recipient
from tests.fixtures import Sink
from tests.rows import make_messages


def test_rows_another_run_took_mid_claim_are_not_sent(fast_app: Flask, sink: Sink,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from mailer.extensions import db
    from mailer.mail.delivery import deliver_claim
    from mailer.mail.leases import claim_recipients

    first, second = make_messages(fast_app, 2)
    with fast_app.app_context():
        engine, config = db.engine, fast_app.config["MAILER"]
        received = sink.handler.handle_DATA

        async def receive_then_take_the_second(*args: Any) -> str:
            reply = await received(*args)
            if len(sink.messages) == 1:  # another run takes the second row while the first mail is answered
                with engine.begin() as other:
                    other.execute(update(Recipient).where(Recipient.id == second).values(
                        claim_token="another-run", lease_until=datetime.now(UTC) + timedelta(minutes=5)))
            return reply

        monkeypatch.setattr(sink.handler, "handle_DATA", receive_then_take_the_second)
        deliver_claim(claim_recipients([first, second], config.DELIVERY_LEASE_SECONDS), config)

        assert [m.rcpt_tos for m in sink.messages] == [["user0@example.com"]]
        db.session.expire_all()
        sent, taken = db.session.get(Recipient, first), db.session.get(Recipient, second)
        assert sent.status == "sent"
        # untouched: neither marked, recorded nor given back by the run that lost it
        assert (taken.status, taken.claim_token, taken.attempt_started_at) == ("sending", "another-run", None)
