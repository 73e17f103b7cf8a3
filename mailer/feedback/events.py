"""What feedback changes, told to the tenant's webhooks (API.md §9), inside the transaction that makes the change.

The events are rows (the webhooks package's transactional outbox): they exist exactly when the bounce,
complaint, suppression or unsubscribe they report is committed.
"""

from __future__ import annotations

import uuid

from mailer.extensions import db
from mailer.models.feedback import Suppression
from mailer.webhooks.events import EventType, record_event
from mailer.webhooks.pipeline import record_message_event

# §9 has message events for these outcomes; `delayed` and `unsubscribed` are recipient events only
# (an unsubscribe is told as the `suppression.created` it causes).
_MESSAGE_EVENTS = {
    "bounced": EventType.MESSAGE_BOUNCED,
    "complained": EventType.MESSAGE_COMPLAINED,
    "suppressed": EventType.MESSAGE_SUPPRESSED,
}


def feedback_recorded(*, recipient_id: uuid.UUID, outcome: str, smtp_code: int | None, enhanced_code: str | None,
                      response: str | None) -> None:
    """A recipient got a ``bounced``/``delayed``/``complained``/``unsubscribed``/``suppressed`` event."""
    event_type = _MESSAGE_EVENTS.get(outcome)
    if event_type is not None:
        record_message_event(db.session, event_type, recipient_id, smtp_code=smtp_code,
                             enhanced_code=enhanced_code, response=response)


def suppression_created(suppression: Suppression) -> None:
    """A suppression row was added (flushed, not committed): ``suppression.created``."""
    db.session.flush()
    record_event(db.session, suppression.tenant_id, EventType.SUPPRESSION_CREATED, {
        "email": suppression.email, "scope": suppression.scope, "reason": suppression.reason,
        "source_message_id": str(suppression.source_message_id) if suppression.source_message_id else None,
        "enhanced_code": suppression.enhanced_code, "detail": suppression.detail,
        "created_at": suppression.created_at.isoformat().replace("+00:00", "Z"),
    })
