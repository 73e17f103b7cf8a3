"""No action token in clear anywhere at rest (API.md §2): account mail with a link is stored without
its wire form, and the token exists only in the delivery job's memory and in the mail sent."""

from __future__ import annotations

from sqlalchemy import select, text, update

from mailer.extensions import db
from mailer.models import Message, MessageKind, Recipient
from tests.auth.test_no_secrets import redis_dump
from tests.helpers import PASSWORD, mails_to, register, token_in


def _database_dump() -> str:
    """Every row of every table as text (bytes decoded), to search for a secret."""
    parts = []
    for table in db.metadata.sorted_tables:
        for row in db.session.execute(text(f'SELECT * FROM "{table.name}"')):
            for value in row:
                parts.append(value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value))
    return "\n".join(parts)


def test_verification_and_reset_tokens_are_nowhere_at_rest(app, client, smtp_server, worker, redis, admin):
    """After sign-up, account-exists and forgot-password mails went out, the database and Redis hold no token."""
    assert register(client, "ann@example.com").status_code == 202
    worker()
    assert register(client, "ann@example.com").status_code == 202  # an "account exists" notice, with a link
    assert client.post("/v1/auth/forgot-password", json={"tenant": "acme", "email": "admin@acme.test"}
                       ).status_code == 202
    worker()
    verification = token_in(mails_to(smtp_server, "ann@example.com")[0], "/verify-email")
    exists = token_in(mails_to(smtp_server, "ann@example.com")[1], "/reset-password")
    reset = token_in(mails_to(smtp_server, "admin@acme.test")[0], "/reset-password")
    with app.app_context():
        dump = _database_dump() + redis_dump(redis)
        for token in (verification, exists, reset):
            assert token not in dump
        kinds = {MessageKind.VERIFICATION.value, MessageKind.ACCOUNT_EXISTS.value, MessageKind.PASSWORD_RESET.value}
        stored = db.session.scalars(select(Message).where(Message.kind.in_(kinds))).all()
        assert len(stored) == 3 and all(m.raw_mime is None for m in stored)
    # The tokens that exist only in the mails still work.
    assert client.post("/v1/auth/verify-email", json={"token": verification}).status_code == 200
    assert client.post("/v1/auth/reset-password", json={"token": reset, "password": PASSWORD}).status_code == 200


def test_each_delivery_attempt_carries_a_fresh_token_and_voids_the_last(app, client, smtp_server, worker, admin):
    """A retried reset mail gets a new token; the copy of an earlier attempt stops working."""
    client.post("/v1/auth/forgot-password", json={"tenant": "acme", "email": "admin@acme.test"})
    worker()
    first = token_in(mails_to(smtp_server, "admin@acme.test")[0], "/reset-password")
    with app.app_context():
        from mailer.mail.outbox import requeue

        message = db.session.scalars(select(Message).where(Message.kind == MessageKind.PASSWORD_RESET.value)).one()
        recipient = message.recipients[0]
        db.session.execute(update(Recipient).where(Recipient.id == recipient.id)
                           .values(status="queued", next_attempt_at=None))  # as after a deferral, now due
        db.session.commit()
        assert requeue([recipient.id], message.queue)
    worker()
    second = token_in(mails_to(smtp_server, "admin@acme.test")[1], "/reset-password")
    assert second != first
    voided = client.post("/v1/auth/reset-password", json={"token": first, "password": PASSWORD})
    assert voided.status_code == 400 and voided.get_json()["code"] == "invalid_token"
    assert client.post("/v1/auth/reset-password", json={"token": second, "password": PASSWORD}).status_code == 200
