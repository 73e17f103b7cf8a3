from __future__ import annotations

from typing import Any

from flask import Blueprint
from sqlalchemy import select

from mailer.http.json import parse_body, parse_query
from mailer.http.pagination import Page, paginate
from mailer.mail import retry
from mailer.models import Message, Recipient, Role
from mailer.notifications import idempotency, reading, search, service
from mailer.notifications.responses import (
    MessageAccepted,
    MessageDetail,
    MessageListQuery,
    MessageSummary,
    RecipientDetail,
    RecipientListQuery,
    RecipientOut,
    RetryAccepted,
    StatsOut,
)
from mailer.notifications.schemas import MessageRequest
from mailer.notifications.serializers import (
    event_json,
    message_json,
    message_summary_json,
    recipient_json,
)
from mailer.notifications.stats import tenant_stats
from mailer.openapi.registry import documented
from mailer.security.principal import current_principal, require_role
from mailer.security.scope import get_owned

bp = Blueprint("notifications", __name__, url_prefix="/v1")

SENDERS = (Role.USER, Role.ADMIN, Role.SERVICE)


def _visible_messages() -> Any:
    return reading.visible_messages(current_principal())


def _owned_message(message_id: str) -> Message:
    return reading.owned_message(current_principal(), message_id)


@bp.post("/messages")
@documented("Send a message", body=MessageRequest, response=MessageAccepted, status=202, errors=(409,),
            headers={"Idempotency-Key": "The same key (per tenant, 24 h) returns the first message."})
@require_role(*SENDERS)
def create_message() -> Any:
    body = parse_body(MessageRequest)
    principal = current_principal()
    return idempotency.replay_or_create(
        principal, lambda keyed: (service.create_message(principal, body, keyed), 202)
    )


@bp.get("/messages")
@documented("List messages", query=MessageListQuery, response=Page[MessageSummary])
@require_role(*SENDERS)
def list_messages() -> Any:
    filters = parse_query(MessageListQuery)
    query = search.filtered(_visible_messages(), current_principal().tenant_id, filters)
    return paginate(query.order_by(Message.created_at.desc(), Message.id), message_summary_json)


@bp.get("/messages/<message_id>")
@documented("A message with its counts and recipients", response=MessageDetail)
@require_role(*SENDERS)
def get_message(message_id: str) -> Any:
    message = _owned_message(message_id)
    return message_json(message, reading.recipient_counts(message), reading.shown_recipients(message))


@bp.get("/messages/<message_id>/recipients/<recipient_id>")
@documented("One recipient with every delivery attempt", response=RecipientDetail)
@require_role(*SENDERS)
def get_recipient(message_id: str, recipient_id: str) -> Any:
    message = _owned_message(message_id)
    recipient = get_owned(Recipient, recipient_id, Recipient.message_id == message.id)
    body = recipient_json(recipient)
    body["events"] = [event_json(e) for e in recipient.events]
    return body


@bp.get("/stats")
@documented("Delivery counts by status for the last 24 hours and 30 days", response=StatsOut,
            description="Admins and API keys see the tenant's; users see what they sent.")
@require_role(*SENDERS)
def get_stats() -> Any:
    return tenant_stats(current_principal())


@bp.get("/messages/<message_id>/recipients")
@documented("A message's recipients, paged", query=RecipientListQuery, response=Page[RecipientOut])
@require_role(*SENDERS)
def list_recipients(message_id: str) -> Any:
    filters = parse_query(RecipientListQuery)
    message = _owned_message(message_id)
    # Scoped by the message (already the caller's) and again by tenant, so no id can leak across.
    query = select(Recipient).where(Recipient.message_id == message.id, Recipient.tenant_id == message.tenant_id)
    if status := filters.status:
        query = query.where(Recipient.status == status)
    return paginate(query.order_by(Recipient.position, Recipient.id), recipient_json)


@bp.post("/messages/<message_id>/retry")
@documented("Queue a message's failed recipients again", response=RetryAccepted, status=202)
@require_role(Role.ADMIN)
def retry_message(message_id: str) -> Any:
    message = _owned_message(message_id)
    requeued = retry.requeue_failed(current_principal(), message)
    return {"id": str(message.id), "status": message.status, "requeued": requeued}, 202
