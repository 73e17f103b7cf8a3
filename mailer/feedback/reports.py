"""Reading what came back: RFC 3464 delivery status notifications, RFC 5965 (ARF) complaints, and the
non-standard bounces real MTAs still send (flufl.bounce, GNU Mailman's detectors).

Pure functions of the raw bytes: no database, no Flask. ``parse_report`` returns one Finding per
recipient the report speaks of; an empty list means the mail says nothing we act on.
"""

from __future__ import annotations

import email
import email.utils
import hashlib
import re
from dataclasses import dataclass
from email.message import Message
from email.parser import BytesHeaderParser

from flufl.bounce import all_failures

from mailer.models import FeedbackOutcome

_ENHANCED = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_SMTP_CODE = re.compile(r"\b([245]\d\d)\b")
_MESSAGE_ID = re.compile(r"^Message-ID:\s*(<[^>\s]+>)", re.IGNORECASE | re.MULTILINE)
_MAX_TEXT = 1000
# Feedback types that are a complaint; "not-spam" is the opposite of one.
_NOT_COMPLAINTS = {"not-spam"}


@dataclass(frozen=True)
class Finding:
    """What a report says about one recipient."""

    outcome: FeedbackOutcome
    email: str | None
    original_recipient: str | None = None
    status: str | None = None  # enhanced status code, e.g. "5.1.1"
    diagnostic: str | None = None
    remote_mta: str | None = None
    original_message_id: str | None = None

    @property
    def smtp_code(self) -> int | None:
        match = _SMTP_CODE.search(self.diagnostic or "")
        return int(match.group(1)) if match else None

    @property
    def response(self) -> str:
        parts = [self.diagnostic or f"{self.outcome} ({self.status or 'no status'})"]
        if self.remote_mta:
            parts.append(f"remote MTA {self.remote_mta}")
        return "; ".join(parts)[:_MAX_TEXT]


def report_identity(raw: bytes) -> str:
    """Stable across deliveries of the same report: its Message-ID, else a hash of its body."""
    message = BytesHeaderParser().parsebytes(raw)  # the header is all it needs: the body is not parsed
    message_id = (message.get("Message-ID") or "").strip()
    if message_id:
        return hashlib.sha256(b"id:" + message_id.encode("utf-8", "replace")).hexdigest()
    _, _, body = raw.partition(b"\r\n\r\n") if b"\r\n\r\n" in raw else raw.partition(b"\n\n")
    return hashlib.sha256(b"body:" + body.replace(b"\r\n", b"\n")).hexdigest()


def parse_report(raw: bytes) -> list[Finding]:
    message = email.message_from_bytes(raw)
    report_type = (message.get_param("report-type") or "") if message.get_content_type() == "multipart/report" else ""
    if str(report_type).lower() == "feedback-report":
        return _arf(message)
    if str(report_type).lower() == "delivery-status" or _find_part(message, "message/delivery-status"):
        findings = _dsn(message)
        if findings:
            return findings
    return _non_standard(message)


def _dsn(message: Message) -> list[Finding]:
    part = _find_part(message, "message/delivery-status")
    if part is None:
        return []
    blocks = part.get_payload()
    if not isinstance(blocks, list):
        return []
    per_message = blocks[0] if blocks else None
    reporting_mta = _value(per_message.get("Reporting-MTA")) if per_message is not None else None
    original_id = _original_message_id(message)
    findings = []
    for block in blocks[1:] if len(blocks) > 1 else blocks:
        action = (block.get("Action") or "").strip().lower()
        outcome = {"failed": FeedbackOutcome.BOUNCED, "delayed": FeedbackOutcome.DELAYED}.get(action)
        if outcome is None:  # delivered, relayed, expanded: nothing went wrong
            continue
        status = _enhanced(block.get("Status"))
        findings.append(Finding(
            outcome=outcome,
            email=_address(block.get("Final-Recipient")),
            original_recipient=_address(block.get("Original-Recipient")),
            status=status,
            diagnostic=_clean(_value(block.get("Diagnostic-Code"))),
            remote_mta=_value(block.get("Remote-MTA")) or reporting_mta,
            original_message_id=original_id,
        ))
    return findings


def _arf(message: Message) -> list[Finding]:
    part = _find_part(message, "message/feedback-report")
    if part is None:
        return []
    fields = _fields_of(part)
    if fields.get("feedback-type", "abuse").lower() in _NOT_COMPLAINTS:
        return []
    original = _original_headers(message)
    recipient = _address(fields.get("original-rcpt-to")) or (original and _address(original.get("To")))
    return [Finding(
        outcome=FeedbackOutcome.COMPLAINED,
        email=recipient,
        diagnostic=_clean(f"complaint: feedback type {fields.get('feedback-type', 'abuse')}"
                          + (f" from {fields['user-agent']}" if fields.get("user-agent") else "")),
        remote_mta=fields.get("reporting-mta") and _value(fields["reporting-mta"]),
        original_message_id=_original_message_id(message),
    )]


def _non_standard(message: Message) -> list[Finding]:
    temporary, permanent = all_failures(message)
    if not temporary and not permanent:
        return []
    text = _body_text(message)
    code_match = _ENHANCED.search(text)
    status = code_match.group(0) if code_match else None
    original_id = _original_message_id(message)
    findings = []
    for outcome, addresses in ((FeedbackOutcome.BOUNCED, permanent), (FeedbackOutcome.DELAYED, temporary)):
        for address in sorted(addresses):
            value = address.decode("ascii", "replace") if isinstance(address, bytes) else str(address)
            findings.append(Finding(outcome=outcome, email=value.strip("<>").lower() or None,
                                    status=status if outcome is FeedbackOutcome.BOUNCED else None,
                                    diagnostic=_line_with(text, value), original_message_id=original_id))
    return findings


def _find_part(message: Message, content_type: str) -> Message | None:
    for part in message.walk():
        if part.get_content_type() == content_type:
            return part
    return None


def _fields_of(part: Message) -> dict[str, str]:
    """Header-style fields of a message/feedback-report part (parsed as a message or left as text)."""
    payload = part.get_payload()
    if isinstance(payload, list) and payload:
        return {k.lower(): str(v) for k, v in payload[0].items()}
    text = part.get_payload(decode=True) or b""
    parsed = email.message_from_bytes(text if isinstance(text, bytes) else str(text).encode())
    return {k.lower(): str(v) for k, v in parsed.items()}


def _original_headers(message: Message) -> Message | None:
    for part in message.walk():
        kind = part.get_content_type()
        if kind in ("message/rfc822", "message/global"):
            payload = part.get_payload()
            if isinstance(payload, list) and payload:
                return payload[0]
        if kind in ("text/rfc822-headers", "message/rfc822-headers", "text/global-headers"):
            data = part.get_payload(decode=True) or b""
            return email.message_from_bytes(data if isinstance(data, bytes) else str(data).encode())
    return None


def _original_message_id(message: Message) -> str | None:
    original = _original_headers(message)
    if original is not None and original.get("Message-ID"):
        return str(original.get("Message-ID")).strip()
    text = _body_text(message)
    match = _MESSAGE_ID.search(text)
    return match.group(1) if match else None


def _body_text(message: Message) -> str:
    chunks = []
    for part in message.walk():
        if part.get_content_maintype() == "text":
            data = part.get_payload(decode=True)
            if isinstance(data, bytes):
                chunks.append(data.decode(part.get_content_charset() or "utf-8", "replace"))
    return "\n".join(chunks)


def _line_with(text: str, address: str) -> str | None:
    lowered = address.lower()
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if lowered in line.lower():
            following = " ".join(part.strip() for part in lines[index:index + 3] if part.strip())
            return _clean(following)
    return None


def _value(field: object) -> str | None:
    """``rfc822; ann@example.com`` → ``ann@example.com``; ``dns; mx.example.com`` → ``mx.example.com``."""
    if field is None:
        return None
    text = " ".join(str(field).split())
    _, semicolon, rest = text.partition(";")
    return (rest if semicolon else text).strip() or None


def _address(field: object) -> str | None:
    value = _value(field)
    if not value:
        return None
    _, addr = email.utils.parseaddr(value)
    return (addr or value).strip("<>").lower() or None


def _enhanced(field: object) -> str | None:
    match = _ENHANCED.search(str(field or ""))
    return match.group(0) if match else None


def _clean(text: str | None) -> str | None:
    return " ".join(text.split())[:_MAX_TEXT] if text else None
