"""What feedback changes, told to the tenant's webhooks (API.md §9), inside the transaction that makes the change.

The events are rows (the webhooks package's transactional outbox): they exist exactly when the bounce,
complaint, suppression or unsubscribe they report is committed. Every ``suppressed`` outcome is told here,
at accept time and before SMTP alike; the recorded-results hook leaves suppressed rows out.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from mailer.models.feedback import Suppression
from mailer.webhooks.feedback_events import on_feedback_recorded, on_suppression_created, on_suppressions_recorded


def feedback_recorded(*, recipient_id: uuid.UUID, outcome: str, smtp_code: int | None, enhanced_code: str | None,
                      response: str | None) -> None:
    """A recipient got a ``bounced``/``delayed``/``complained``/``unsubscribed``/``suppressed`` event:
    ``message.bounced``, ``message.complained`` or ``message.suppressed`` (the others tell nothing)."""
    on_feedback_recorded(recipient_id=recipient_id, outcome=outcome, smtp_code=smtp_code,
                         enhanced_code=enhanced_code, response=response)


def suppressions_recorded(recipient_ids: Sequence[uuid.UUID], *, response: str) -> None:
    """Many recipients got a ``suppressed`` event at once (a broadcast's screen): their ``message.suppressed``."""
    on_suppressions_recorded(recipient_ids, response=response)


def suppression_created(suppression: Suppression) -> None:
    """A suppression row was added (flushed, not committed): ``suppression.created``."""
    on_suppression_created(suppression)
