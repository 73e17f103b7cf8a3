"""One-click unsubscribe (RFC 8058) for broadcast copies: redeeming a token (mailer.mail.recipient_tokens makes the
headers and the link).

A token names one broadcast recipient row; redeeming it suppresses that row's address for the
tenant in scope ``broadcast`` (account and other mail is never blocked by it). It is redeemed by
a POST (or a mail to the ``u-`` address), never by a GET: link scanners follow GETs.
"""

from __future__ import annotations

import uuid

from sqlalchemy import insert, select

from mailer.config import Config
from mailer.extensions import db
from mailer.mail.recipient_tokens import TokenKind, read_token
from mailer.mail.suppressions import add_suppression
from mailer.models import (
    DeliveryEvent,
    FeedbackOutcome,
    FeedbackRecord,
    MessageKind,
    Recipient,
    SuppressionReason,
    SuppressionScope,
)
from mailer.models.types import utcnow

UNSUBSCRIBED_RESPONSE = "the recipient unsubscribed from broadcasts"
_ONCE_KEY = "unsubscribe"


class UnknownUnsubscribeTokenError(Exception):
    """The token is forged, or names no broadcast recipient any more."""


def broadcast_recipient(config: Config, token: str) -> Recipient:
    """The broadcast recipient a genuine unsubscribe token names; UnknownUnsubscribeTokenError otherwise."""
    recipient_id = read_token(config, TokenKind.UNSUBSCRIBE, token)
    recipient = db.session.get(Recipient, recipient_id) if recipient_id else None
    if recipient is None or recipient.message.kind != MessageKind.BROADCAST:
        raise UnknownUnsubscribeTokenError()
    return recipient


def unsubscribe(recipient: Recipient, *, via: str) -> bool:
    """Suppress the recipient's address for broadcasts and record the event (once). Caller commits.

    Returns whether this call added the suppression.
    """
    _, created = add_suppression(
        recipient.tenant_id, recipient.email, scope=SuppressionScope.BROADCAST, reason=SuppressionReason.UNSUBSCRIBE,
        source_message_id=recipient.message_id, detail=f"one-click unsubscribe ({via})",
    )
    already = db.session.scalar(select(FeedbackRecord.id).where(
        FeedbackRecord.recipient_id == recipient.id, FeedbackRecord.report_key == _ONCE_KEY))
    if already is None:
        db.session.add(FeedbackRecord(tenant_id=recipient.tenant_id, recipient_id=recipient.id,
                                      report_key=_ONCE_KEY, kind=FeedbackOutcome.UNSUBSCRIBED))
        db.session.execute(insert(DeliveryEvent.__table__), [{
            "id": uuid.uuid4(), "recipient_id": recipient.id, "tenant_id": recipient.tenant_id, "at": utcnow(),
            "outcome": FeedbackOutcome.UNSUBSCRIBED, "smtp_code": None, "enhanced_code": None,
            "response": UNSUBSCRIBED_RESPONSE,
        }])
    return created


