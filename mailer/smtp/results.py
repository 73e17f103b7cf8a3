"""What happened to each recipient of a delivery attempt."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Outcome(StrEnum):
    SENT = "sent"
    DEFERRED = "deferred"
    FAILED = "failed"
    # The connection was lost after the final "." and before the reply: the server
    # may or may not have taken the message. Retried like a deferral, but recorded.
    AMBIGUOUS = "ambiguous"
    # No SMTP attempt: the address is on the tenant's suppression list (API.md §8). Final, like FAILED.
    SUPPRESSED = "suppressed"


class ErrorCode(StrEnum):
    """The contract's error_code values for a recipient that ended ``failed``."""

    RECIPIENT_REJECTED = "recipient_rejected"
    SENDER_REJECTED = "sender_rejected"
    CONTENT_REJECTED = "content_rejected"
    MESSAGE_TOO_LARGE = "message_too_large"
    SMTPUTF8_UNSUPPORTED = "smtputf8_unsupported"
    RETRIES_EXHAUSTED = "retries_exhausted"
    INVALID_MESSAGE = "invalid_message"
    SUPPRESSED = "suppressed"
    BOUNCED = "bounced"


@dataclass(frozen=True)
class RecipientResult:
    """The outcome of one attempt for one envelope recipient.

    ``smtp_code``/``enhanced_code``/``response`` are the server's reply as received
    (None when no reply was had: refused connection, timeout, TLS failure).
    ``retry_after`` is the server's own hint in seconds, when a 4xx reply named one.
    """

    recipient: str
    outcome: Outcome
    smtp_code: int | None = None
    enhanced_code: str | None = None
    response: str = ""
    error_code: ErrorCode | None = None
    retry_after: float | None = None
    message_id: str | None = None
