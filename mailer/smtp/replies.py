"""SMTP replies and how each one classifies for a recipient (API.md §4).

Transient (4xx, no reply at all) defers; permanent (5xx) fails with the error code of
the step that refused. A fault of the server as a whole defers, whatever its code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailer.smtp.results import ErrorCode, Outcome, RecipientResult

_ENHANCED = re.compile(r"([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
_WAIT = re.compile(
    r"(?:try|retry|again|wait|later)\D{0,30}?(\d+(?:\.\d+)?)\s*"
    r"(seconds?|secs?|s|minutes?|mins?|m|hours?|hrs?|h)\b",
    re.IGNORECASE,
)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600}
_TOO_MANY_RECIPIENTS = re.compile(r"too many recipients", re.IGNORECASE)


@dataclass(frozen=True)
class Reply:
    """One server reply; ``code`` None means no reply was had (network, TLS, timeout)."""

    code: int | None
    text: str

    @classmethod
    def from_smtplib(cls, code: int, message: bytes | str) -> Reply:
        text = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
        return cls(code if code > 0 else None, text)

    @classmethod
    def none(cls, reason: str) -> Reply:
        return cls(None, reason)

    @property
    def line(self) -> str:
        """The reply as the server wrote it ("550 5.1.1 No such user")."""
        return f"{self.code} {self.text}" if self.code is not None else self.text

    @property
    def enhanced_code(self) -> str | None:
        """The RFC 3463 status ("5.1.1") at the start of the text, if its class matches."""
        match = _ENHANCED.match(self.text)
        if match is None or self.code is None or match.group(1) != str(self.code)[0]:
            return None
        return match.group(0)

    @property
    def transient(self) -> bool:
        return self.code is None or 400 <= self.code < 500

    @property
    def permanent(self) -> bool:
        return self.code is not None and self.code >= 500

    @property
    def retry_after(self) -> float | None:
        """Seconds the server asked us to wait ("try again in 5 minutes"), for 4xx only."""
        if self.code is None or not 400 <= self.code < 500:
            return None
        match = _WAIT.search(self.text)
        if match is None:
            return None
        return float(match.group(1)) * _UNIT_SECONDS[match.group(2)[0].lower()]

    @property
    def authentication_required(self) -> bool:
        """530 "authentication required" (RFC 4954 §6): the relay as a whole wants AUTH, not a fault of the mail."""
        return self.code == 530

    @property
    def too_many_recipients(self) -> bool:
        """452/552 at RCPT meaning "no more in this transaction" (RFC 5321 §4.5.3.1.10)."""
        if self.code == 452:
            return True
        return self.code == 552 and (self.enhanced_code == "5.5.3" or bool(_TOO_MANY_RECIPIENTS.search(self.text)))

    @property
    def size_exceeded(self) -> bool:
        return self.code == 552 or self.enhanced_code in {"5.3.4", "5.2.3"}


def sent(recipient: str, reply: Reply, message_id: str) -> RecipientResult:
    return RecipientResult(recipient, Outcome.SENT, reply.code, reply.enhanced_code, reply.line, message_id=message_id)


def deferred(recipient: str, reply: Reply, message_id: str | None = None) -> RecipientResult:
    return RecipientResult(
        recipient,
        Outcome.DEFERRED,
        reply.code,
        reply.enhanced_code,
        reply.line,
        retry_after=reply.retry_after,
        message_id=message_id,
    )


def failed(recipient: str, reply: Reply, error_code: ErrorCode, message_id: str | None = None) -> RecipientResult:
    return RecipientResult(
        recipient, Outcome.FAILED, reply.code, reply.enhanced_code, reply.line, error_code, message_id=message_id
    )


def ambiguous(recipient: str, reply: Reply, message_id: str) -> RecipientResult:
    return RecipientResult(
        recipient, Outcome.AMBIGUOUS, reply.code, reply.enhanced_code, reply.line, message_id=message_id
    )


def classify(recipient: str, reply: Reply, refusal: ErrorCode, message_id: str | None = None) -> RecipientResult:
    """A refusal at a transaction step: deferred when transient (or 530), else failed with ``refusal``.

    ``refusal`` is the step's code: RECIPIENT_REJECTED at RCPT, SENDER_REJECTED at MAIL,
    CONTENT_REJECTED at DATA (turned into MESSAGE_TOO_LARGE for a size refusal).
    """
    if reply.transient or reply.authentication_required:  # a server-wide fault defers, like AUTH 535
        return deferred(recipient, reply, message_id)
    if refusal is not ErrorCode.RECIPIENT_REJECTED and reply.size_exceeded:
        refusal = ErrorCode.MESSAGE_TOO_LARGE
    return failed(recipient, reply, refusal, message_id)
