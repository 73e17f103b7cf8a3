"""The webhook events that feedback changes cause (API.md §9), called by feedback's processing,
suppressions and unsubscribe inside the transaction that makes the change.

The events are rows (the webhooks package's transactional outbox): they exist exactly when the bounce,
complaint, suppression or unsubscribe they report is committed. `message.suppressed` comes from here only
(accept time and delivery time alike, as feedback announces each), so the recorded-results hook leaves
suppressed rows out.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from mailer.extensions import db
from mailer.models import FeedbackOutcome
from mailer.smtp.results import Outcome
from mailer.webhooks.events import EventDraft, EventType, record_events, utc_text
from mailer.webhooks.pipeline import record_message_event, record_message_events, record_message_events_each

_BY_OUTCOME = {
    FeedbackOutcome.BOUNCED.value: EventType.MESSAGE_BOUNCED,
    FeedbackOutcome.COMPLAINED.value: EventType.MESSAGE_COMPLAINED,
    Outcome.SUPPRESSED.value: EventType.MESSAGE_SUPPRESSED,
}


def on_feedback_recorded(*, recipient_id: uuid.UUID, outcome: str, smtp_code: int | None,
                         enhanced_code: str | None, response: str | None) -> None:
    """`message.bounced`, `message.complained` or `message.suppressed` (other outcomes send nothing)."""
    event_type = _BY_OUTCOME.get(outcome)
    if event_type is None:
        return
    overrides: dict[str, Any] = {"smtp_code": smtp_code, "enhanced_code": enhanced_code, "response": response}
    record_message_event(db.session, event_type, recipient_id, **overrides)


def on_feedbacks_recorded(findings: Sequence[tuple[uuid.UUID, str, int | None, str | None, str | None]]) -> None:
    """``on_feedback_recorded`` for many (recipient id, outcome, smtp code, enhanced code, response) at once."""
    record_message_events_each(db.session, [
        (_BY_OUTCOME[outcome], recipient_id,
         {"smtp_code": smtp_code, "enhanced_code": enhanced_code, "response": response})
        for recipient_id, outcome, smtp_code, enhanced_code, response in findings if outcome in _BY_OUTCOME
    ])


def on_suppressions_recorded(recipient_ids: Sequence[uuid.UUID], *, response: str) -> None:
    """`message.suppressed` for each of many recipients, in a few statements (none without a subscriber)."""
    record_message_events(db.session, EventType.MESSAGE_SUPPRESSED, recipient_ids,
                          smtp_code=None, enhanced_code=None, response=response)


def on_suppression_created(suppression: Any) -> None:
    """`suppression.created` with the entry as `GET /v1/suppressions` shows it (API.md §8)."""
    on_suppressions_created([suppression])


def on_suppressions_created(suppressions: Sequence[Any]) -> None:
    """`suppression.created` for each entry, in a few statements."""
    record_events(db.session, [
        EventDraft(entry.tenant_id, EventType.SUPPRESSION_CREATED, {
            "email": entry.email, "scope": entry.scope, "reason": entry.reason,
            "source_message_id": str(entry.source_message_id) if entry.source_message_id else None,
            "enhanced_code": entry.enhanced_code, "detail": entry.detail, "created_at": utc_text(entry.created_at),
        }, entry.source_message_id)
        for entry in suppressions
    ])
