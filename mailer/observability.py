"""What delivery reports about each SMTP attempt: one log line and the metrics.

Delivery calls `note_attempt` once per recorded recipient result; the line carries the ids
(request, tenant, message, recipient), the outcome and the masked address — never the address
in full, the body or any credential.
"""

from __future__ import annotations

import logging
from typing import Any

from mailer import metrics
from mailer.logs import mask_email

log = logging.getLogger("mailer.delivery")


def note_attempt(recipient: Any, result: Any, seconds: float | None = None) -> None:
    """Log and count one recipient's attempt (``seconds``: the SMTP transaction that carried it)."""
    outcome = getattr(result.outcome, "value", result.outcome)
    log.info("smtp attempt", extra={
        "tenant_id": str(recipient.tenant_id), "message_id": str(recipient.message_id),
        "recipient_id": str(recipient.id), "to": mask_email(recipient.email), "outcome": outcome,
        "status": recipient.status, "smtp_code": result.smtp_code, "enhanced_code": result.enhanced_code,
        "attempt": recipient.attempts, "seconds": round(seconds, 3) if seconds is not None else None,
    })
    metrics.observe_attempt(outcome, result.smtp_code, seconds)
    from mailer.mail import delivery

    metrics.observe_pool(getattr(delivery, "_handler", None))
