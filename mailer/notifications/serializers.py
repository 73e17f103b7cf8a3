"""JSON shapes of messages and recipients, as API.md §3 and §4 give them."""

from __future__ import annotations

from typing import Any

from mailer.http.json import iso
from mailer.models import DeliveryEvent, Message, Recipient, RecipientStatus


def recipient_json(recipient: Recipient) -> dict[str, Any]:
    return {
        "id": str(recipient.id),
        "email": recipient.email,
        "status": recipient.status,
        "error_code": recipient.error_code,
        "attempts": recipient.attempts,
        "smtp_code": recipient.smtp_code,
        "smtp_response": recipient.smtp_response,
        "message_id": recipient.smtp_message_id,
        "last_error": recipient.last_error,
        "sent_at": iso(recipient.sent_at),
        "next_attempt_at": iso(recipient.next_attempt_at),
    }


def event_json(event: DeliveryEvent) -> dict[str, Any]:
    return {
        "at": iso(event.at),
        "outcome": event.outcome,
        "smtp_code": event.smtp_code,
        "enhanced_code": event.enhanced_code,
        "response": event.response,
    }


def message_summary_json(message: Message) -> dict[str, Any]:
    return {
        "id": str(message.id),
        "kind": message.kind,
        "subject": message.subject,
        "status": message.status,
        "created_by": str(message.created_by) if message.created_by else None,
        "created_at": iso(message.created_at),
        "send_at": iso(message.send_at),
        "tags": message.tags,
        "metadata": message.meta,
        "locale": message.locale,
    }


def message_json(message: Message, counts: dict[str, int], recipients: list[Recipient] | None) -> dict[str, Any]:
    body = message_summary_json(message)
    body["counts"] = {status: counts.get(status, 0) for status in RecipientStatus}
    if recipients is not None:
        body["recipients"] = [recipient_json(r) for r in recipients]
    return body


def accepted_json(message: Message) -> dict[str, Any]:
    """The 202 body of POST /v1/messages."""
    return {
        "id": str(message.id),
        "status": message.status,
        "recipients": [{"email": r.email, "status": r.status} for r in message.recipients],
        "created_at": iso(message.created_at),
    }
