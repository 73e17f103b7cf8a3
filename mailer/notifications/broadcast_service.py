"""Company broadcasts: one mail per active user of the tenant, each rendered for its recipient.

A broadcast is a message with kind `broadcast`, no stored wire form (raw_mime None), the
`bulk` queue, and a frozen copy of its template source and data (BroadcastContent).
Everything that can be checked is checked before anything is stored: the template's
safety, a full render and build for the first recipient, the daily quota. The service
commits, then enqueues; workers render each recipient's mail (mailer.mail.personalize).
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import current_app
from sqlalchemy import insert, select

from mailer.audit import record_audit
from mailer.config import Config
from mailer.errors import ValidationError
from mailer.extensions import atomic, db
from mailer.feedback.suppressions import add_suppressed_events, screen_new_rows
from mailer.mail.compose import sender_of
from mailer.mail.outbox import enqueue_delivery
from mailer.mail.personalize import MAX_SUBJECT_COLUMN, Member, build_mail
from mailer.mail.quota import reserve_recipients
from mailer.mail.templates import TemplateSource, check_template
from mailer.models import BroadcastContent, Message, MessageKind, MessageStatus, Recipient, Tenant, User
from mailer.notifications.content import requested_content
from mailer.notifications.schemas import AudienceIn, BroadcastRequest
from mailer.security.types import Principal
from mailer.smtp.mime import message_id_domain


def _source(tenant: Tenant, body: BroadcastRequest) -> TemplateSource:
    """The template to freeze: a named one as stored, or the request's own parts once they pass the safety check."""
    content = requested_content(tenant.id, body.template, body.subject, body.text, body.html)
    if not content.named:
        check_template(content.source)
    return content.source


def audience(tenant_id: uuid.UUID, wanted: AudienceIn) -> list[tuple[uuid.UUID, str, str]]:
    """(id, email, name) of the tenant's active users matching the audience — this tenant only."""
    query = select(User.id, User.email, User.name).where(
        User.tenant_id == tenant_id, User.is_active.is_(True), User.role.in_(wanted.roles)
    )
    if wanted.verified_only:
        query = query.where(User.email_verified_at.is_not(None))
    return [tuple(row) for row in db.session.execute(query.order_by(User.created_at, User.id))]  # type: ignore[misc]


def start_broadcast(principal: Principal, body: BroadcastRequest) -> tuple[Message, int]:
    """Validate, store (one transaction, committed here) and then enqueue a broadcast; (message, recipient count)."""
    config: Config = current_app.config["MAILER"]
    tenant = db.session.get(Tenant, principal.tenant_id)
    source = _source(tenant, body)
    members = audience(tenant.id, body.audience)
    if not members:
        raise ValidationError(errors=[{"field": "audience", "message": "no active user matches the audience"}])
    sender = sender_of(tenant, config).email
    _, first_email, first_name = members[0]
    build_mail(config, tenant, sender, source, body.data, Member(first_email, first_name), "<probe@localhost>")
    with atomic():
        message = _store(config, principal, tenant, body, source, sender, members)
    enqueue_delivery(message.id, message.queue)  # with Redis down, the sweeper enqueues them later
    return message, len(members)


def _store(config: Config, principal: Principal, tenant: Tenant, body: BroadcastRequest, source: TemplateSource,
           sender: str, members: list[tuple[uuid.UUID, str, str]]) -> Message:
    """Reserve quota, add the message, its frozen content and recipients, audit: in the caller's transaction."""
    reserve_recipients(config, tenant.id, len(members))
    message_id = uuid.uuid4()
    message = Message(
        id=message_id, tenant_id=tenant.id, kind=MessageKind.BROADCAST.value, created_by=principal.id,
        creator_type=principal.kind, subject=" ".join(source.subject.split())[:MAX_SUBJECT_COLUMN], sender=sender,
        message_id_header=f"<{message_id.hex}@{message_id_domain(sender)}>", raw_mime=None,
        queue="bulk", status=MessageStatus.QUEUED.value, tags=body.tags, meta=body.metadata,
    )
    db.session.add(message)
    db.session.flush()  # no ORM relationship orders these inserts: the message row goes first
    db.session.add(BroadcastContent(message_id=message_id, subject=source.subject, html=source.html,
                                    text=source.text, data=body.data))
    db.session.flush()
    rows: list[dict[str, Any]] = [
        {"id": uuid.uuid4(), "message_id": message_id, "tenant_id": tenant.id, "position": i, "email": email,
         "name": name or ""}
        for i, (_, email, name) in enumerate(members)
    ]
    if screen_new_rows(tenant.id, MessageKind.BROADCAST.value, rows) == len(rows):
        message.status = MessageStatus.FAILED.value  # every member is suppressed: no delivery will roll it up
    db.session.execute(insert(Recipient), rows)
    add_suppressed_events(rows)
    record_audit("broadcast.created", tenant_id=tenant.id, actor_id=principal.id, actor_type=principal.kind,
                 details={"message_id": str(message_id), "recipient_count": len(members),
                          "template": body.template, "roles": list(body.audience.roles),
                          "verified_only": body.audience.verified_only})
    return message
