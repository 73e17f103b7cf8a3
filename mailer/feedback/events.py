"""Hook points for what feedback changes, called inside the transaction that makes the change.

The webhooks package (API.md §9) turns these into event rows (a transactional outbox): it
replaces the bodies below, or registers listeners here. Until then they do nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

FeedbackListener = Callable[..., None]
_feedback_listeners: list[FeedbackListener] = []
_suppression_listeners: list[FeedbackListener] = []


def on_feedback(listener: FeedbackListener) -> None:
    _feedback_listeners.append(listener)


def on_suppression(listener: FeedbackListener) -> None:
    _suppression_listeners.append(listener)


def feedback_recorded(*, recipient_id: uuid.UUID, outcome: str, smtp_code: int | None, enhanced_code: str | None,
                      response: str | None) -> None:
    """A recipient got a ``bounced``/``delayed``/``complained``/``unsubscribed``/``suppressed`` event.

    Webhooks: ``message.bounced``, ``message.complained``, ``message.suppressed``.
    """
    for listener in _feedback_listeners:
        listener(recipient_id=recipient_id, outcome=outcome, smtp_code=smtp_code, enhanced_code=enhanced_code,
                 response=response)


def suppression_created(suppression: Any) -> None:
    """A suppression row was added (flushed, not committed). Webhooks: ``suppression.created``."""
    for listener in _suppression_listeners:
        listener(suppression)
