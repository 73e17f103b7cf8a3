"""What delivery reports about each SMTP attempt: one log line each, and the metrics.

Delivery calls `note_attempts` once per recorded chunk of recipient results; each line carries
the ids (request, tenant, message, recipient), the outcome and the masked address — never the
address in full, the body or any credential. Metrics go to Redis in one round trip per chunk.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from mailer.logs import mask_email
from mailer.observability import metrics

log = logging.getLogger("mailer.delivery")


def note_attempts(pairs: Sequence[tuple[Any, Any]], seconds: float | Sequence[float] | None = None,
                  pool: Any = None) -> None:
    """Log and count recipients' attempts, (recipient, result) each; ``seconds``: the SMTP conversation
    (one figure for all, or one per pair). Metrics and pool counts go in one Redis round trip.

    ``pool``: the SMTP handler whose connection-pool counts are mirrored (None: not yet made).
    """
    each = [seconds] * len(pairs) if seconds is None or isinstance(seconds, int | float) else list(seconds)
    for (recipient, result), took in zip(pairs, each, strict=True):
        log.info("smtp attempt", extra={
            "tenant_id": str(recipient.tenant_id), "message_id": str(recipient.message_id),
            "recipient_id": str(recipient.id), "to": mask_email(recipient.email), "outcome": _outcome(result),
            "smtp_code": result.smtp_code, "enhanced_code": result.enhanced_code,
            "attempt": recipient.attempts + 1, "seconds": round(took, 3) if took is not None else None,
        })
    metrics.observe_attempts([(_outcome(result), result.smtp_code) for _, result in pairs], each, pool=pool)


def _outcome(result: Any) -> str:
    return str(getattr(result.outcome, "value", result.outcome))
