"""The one window for a duplicate: the connection dies after the final '.' and before the reply."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mailer.mail.outbox import requeue
from tests.fixtures import ScriptedHandler, drain, wait_for
from tests.rows import events_of, make_messages, recipient_rows


@dataclass
class DropAfterDotHandler(ScriptedHandler):
    """Takes the first message, then drops the connection instead of replying to the final '.'."""

    drops_left: int = 1

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await super().handle_DATA(server, session, envelope)  # the server did get it
        if self.drops_left:
            self.drops_left -= 1
            server.transport.abort()
        return "250 2.0.0 OK queued"


def test_lost_reply_after_the_dot_is_recorded_ambiguous_and_retried_with_the_same_message_id(
    deferring_app, redis, sink
):
    sink.handler = DropAfterDotHandler()
    sink.stop()
    sink.start()
    ids = make_messages(deferring_app, 1)
    with deferring_app.app_context():
        requeue(ids, "default")
    drain(deferring_app, redis)

    [row] = recipient_rows(deferring_app)
    assert row.status == "deferred" and row.attempts == 1 and row.next_attempt_at is not None
    assert events_of(deferring_app, row.id) == ["ambiguous"]
    assert len(sink.messages) == 1  # it arrived, but nobody told us

    def retried() -> bool:
        drain(deferring_app, redis)
        return recipient_rows(deferring_app)[0].status == "sent"

    wait_for(retried, timeout=15.0, interval=0.2)
    [row] = recipient_rows(deferring_app)
    assert events_of(deferring_app, row.id) == ["ambiguous", "sent"]
    assert len(sink.messages) == 2
    first, second = (m.message["Message-ID"] for m in sink.messages)
    assert first == second == row.smtp_message_id  # the receiver can tell the copies are one message
