"""Broadcasts and a message's recipients: POST /v1/broadcasts, GET …/recipients, POST …/retry."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from mailer.http.json import parse_body, parse_query
from mailer.http.pagination import Page, paginate
from mailer.mail import retry
from mailer.models import Recipient, Role
from mailer.notifications import broadcast_service
from mailer.notifications.responses import BroadcastAccepted, RecipientListQuery, RecipientOut, RetryAccepted
from mailer.notifications.routes import SENDERS, _owned_message, bp
from mailer.notifications.schemas import BroadcastRequest
from mailer.notifications.serializers import recipient_json
from mailer.openapi.registry import documented
from mailer.security.principal import current_principal, require_role


@bp.post("/broadcasts")
@documented("Send one mail to every active user matching the audience", body=BroadcastRequest,
            response=BroadcastAccepted, status=202)
@require_role(Role.ADMIN)
def create_broadcast() -> Any:
    body = parse_body(BroadcastRequest)
    message, count = broadcast_service.start_broadcast(current_principal(), body)
    return {"id": str(message.id), "status": message.status, "recipient_count": count}, 202


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
