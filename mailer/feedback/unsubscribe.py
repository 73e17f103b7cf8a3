"""One-click unsubscribe (RFC 8058) for broadcast copies: the headers, and redeeming a token.

A token names one broadcast recipient row; redeeming it suppresses that row's address for the
tenant in scope ``broadcast`` (account and other mail is never blocked by it). It is redeemed by
a POST (or a mail to the ``u-`` address), never by a GET: link scanners follow GETs.
"""

from __future__ import annotations

import uuid

from sqlalchemy import insert, select

from mailer.config import Config
from mailer.extensions import db
from mailer.feedback.suppressions import add_suppression
from mailer.feedback.tokens import TokenKind, make_token, read_token, token_address
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
from mailer.webhooks.feedback_events import on_feedback_recorded

UNSUBSCRIBED_RESPONSE = "the recipient unsubscribed from broadcasts"
_ONCE_KEY = "unsubscribe"


class UnknownUnsubscribeTokenError(Exception):
    """The token is forged, or names no broadcast recipient any more."""


def unsubscribe_headers(config: Config, recipient_id: uuid.UUID) -> tuple[tuple[str, str], ...]:
    """List-Unsubscribe (https, plus mailto with BOUNCE_DOMAIN) and List-Unsubscribe-Post for one copy."""
    return unsubscribe_link(config, recipient_id)[1]


def unsubscribe_link(config: Config, recipient_id: uuid.UUID) -> tuple[str, tuple[tuple[str, str], ...]]:
    """One copy's unsubscribe page URL (the link in its footer) and its List-Unsubscribe headers."""
    token = make_token(config, TokenKind.UNSUBSCRIBE, recipient_id)
    url = f"{config.PUBLIC_BASE_URL.rstrip('/')}/unsubscribe/{token}"
    targets = [f"<{url}>"]
    if config.BOUNCE_DOMAIN:
        targets.append(f"<mailto:{token_address(config, TokenKind.UNSUBSCRIBE, recipient_id)}>")
    return url, (("List-Unsubscribe", ", ".join(targets)), ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"))


def broadcast_recipient(config: Config, token: str) -> Recipient:
    """The broadcast recipient a genuine unsubscribe token names; UnknownUnsubscribeTokenError otherwise."""
    recipient_id = read_token(config, TokenKind.UNSUBSCRIBE, token)
    recipient = db.session.get(Recipient, recipient_id) if recipient_id else None
    if recipient is None or recipient.message.kind != MessageKind.BROADCAST.value:
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
                                      report_key=_ONCE_KEY, kind=FeedbackOutcome.UNSUBSCRIBED.value))
        db.session.execute(insert(DeliveryEvent.__table__), [{
            "id": uuid.uuid4(), "recipient_id": recipient.id, "tenant_id": recipient.tenant_id, "at": utcnow(),
            "outcome": FeedbackOutcome.UNSUBSCRIBED.value, "smtp_code": None, "enhanced_code": None,
            "response": UNSUBSCRIBED_RESPONSE,
        }])
        on_feedback_recorded(recipient_id=recipient.id, outcome=FeedbackOutcome.UNSUBSCRIBED.value,
                             smtp_code=None, enhanced_code=None, response=UNSUBSCRIBED_RESPONSE)
    return created


