"""Rows made in bulk without the API (one-recipient messages, committed, not enqueued) and read back."""

from __future__ import annotations

import uuid
from datetime import datetime

from flask import Flask
from sqlalchemy import select

from mailer.models import DeliveryEvent, Message, MessageKind, Recipient
from mailer.models.message import queue_priority


def make_messages(app: Flask, count: int, *, queue: str = "default", kind: str = MessageKind.CUSTOM.value,
                  send_at: datetime | None = None, prefix: str = "user", tenant_slug: str | None = None
                  ) -> list[uuid.UUID]:
    """Commit ``count`` one-recipient messages (own MIME each) of the tenant (the first one unless named)
    without enqueueing; returns recipient ids."""
    from mailer.extensions import db
    from mailer.models import Tenant

    with app.app_context():
        query = select(Tenant) if tenant_slug is None else select(Tenant).where(Tenant.slug == tenant_slug)
        tenant = db.session.scalars(query).first()
        assert tenant is not None
        messages = []
        for index in range(count):
            address = f"{prefix}{index}@example.com"
            mid = f"<{uuid.uuid4().hex}@acme.test>"
            wire = (f"From: news@acme.test\r\nTo: {address}\r\nSubject: n{index}\r\nMessage-ID: {mid}\r\n"
                    f"\r\nHello {index}\r\n").encode()
            message = Message(tenant_id=tenant.id, kind=kind, subject=f"n{index}", sender="news@acme.test",
                              message_id_header=mid, raw_mime=wire, queue=queue, tags=[], meta={},
                              status="scheduled" if send_at else "queued", send_at=send_at)
            message.recipients = [Recipient(tenant_id=tenant.id, position=0, email=address,
                                            next_attempt_at=send_at, priority=queue_priority(queue))]
            messages.append(message)
        db.session.add_all(messages)
        db.session.commit()
        return [m.recipients[0].id for m in messages]


def add_second_recipient(recipient_id: uuid.UUID) -> None:
    """Give the message of ``recipient_id`` another recipient (in the caller's app context)."""
    from mailer.extensions import db

    first = db.session.get(Recipient, recipient_id)
    db.session.add(Recipient(message_id=first.message_id, tenant_id=first.tenant_id, position=1,
                             email="second@example.com"))
    db.session.commit()


def recipient_rows(app: Flask) -> list[Recipient]:
    from mailer.extensions import db

    with app.app_context():
        db.session.expire_all()
        rows = list(db.session.scalars(select(Recipient).order_by(Recipient.email)))
        db.session.expunge_all()
        return rows


def events_of(app: Flask, recipient_id: uuid.UUID) -> list[str]:
    from mailer.extensions import db

    with app.app_context():
        return list(db.session.scalars(
            select(DeliveryEvent.outcome).where(DeliveryEvent.recipient_id == recipient_id).order_by(DeliveryEvent.at)
        ))


def ambiguous_ids(app: Flask) -> set[uuid.UUID]:
    """Recipients with a recorded ambiguous attempt (the only ones that may arrive twice)."""
    from mailer.extensions import db

    with app.app_context():
        return set(db.session.scalars(select(DeliveryEvent.recipient_id).where(DeliveryEvent.outcome == "ambiguous")))


def statuses(app: Flask) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in recipient_rows(app):
        counts[row.status] = counts.get(row.status, 0) + 1
    return counts
