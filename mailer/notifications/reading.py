"""Reading messages as the API shows them (GET /v1/messages[/{id}]): the console reads through these too."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, select

from mailer.extensions import db
from mailer.models import Message, MessageKind, Recipient
from mailer.notifications.visibility import readable_by
from mailer.security.scope import get_owned, tenant_select
from mailer.security.types import Principal

# A broadcast has thousands of recipients: one page of them with the message, all at …/recipients.
SHOWN_RECIPIENTS = 100


def visible_messages(principal: Principal) -> Select[Any]:
    return tenant_select(Message, principal.tenant_id).where(*readable_by(principal))


def owned_message(principal: Principal, message_id: Any) -> Message:
    """The message if this caller may read it; NotFoundError otherwise (another tenant's, another user's)."""
    return get_owned(Message, message_id, *readable_by(principal))


def recipient_counts(message: Message) -> dict[str, int]:
    rows = db.session.execute(
        select(Recipient.status, func.count()).where(Recipient.message_id == message.id).group_by(Recipient.status)
    ).all()
    return {status: count for status, count in rows}


def shown_recipients(message: Message) -> list[Recipient]:
    if message.kind == MessageKind.BROADCAST:
        return list(db.session.scalars(
            select(Recipient).where(Recipient.message_id == message.id).order_by(Recipient.position)
            .limit(SHOWN_RECIPIENTS)
        ))
    return list(message.recipients)
