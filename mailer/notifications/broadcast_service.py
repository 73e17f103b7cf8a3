"""Company broadcasts: one mail per active user of the tenant, each rendered for its recipient.

A broadcast is a message with kind `broadcast`, no stored wire form (raw_mime None), the
`bulk` queue, and a frozen copy of its template source and data (BroadcastContent).
Everything that can be checked is checked before anything is stored: the template's
safety, a full render and build for the first recipient, the daily quota. The service
commits, then enqueues; workers render each recipient's mail (mailer.mail.personalize).
"""

from __future__ import annotations

import uuid

from flask import current_app
from sqlalchemy import insert, select

from mailer.audit import record_audit
from mailer.config import Config
from mailer.errors import QuotaExceededError, TemplateError, ValidationError
from mailer.extensions import db
from mailer.mail.compose import sender_of, validation_errors
from mailer.mail.outbox import enqueue_delivery
from mailer.mail.personalize import MAX_SUBJECT_COLUMN, Member, build_mail
from mailer.mail.quota import reserve_recipients
from mailer.mail.templates import TemplateNotFoundError, TemplateRenderError, TemplateSource, find_template
from mailer.models import BroadcastContent, Message, MessageKind, MessageStatus, Recipient, Tenant, User
from mailer.notifications.schemas import AudienceIn, BroadcastRequest
from mailer.notifications.template_service import refuse_unsafe
from mailer.security.types import Principal


def _source(tenant: Tenant, body: BroadcastRequest) -> tuple[TemplateSource, str]:
    """The template to freeze, and the field name errors are reported under."""
    if body.template is not None:
        if body.subject is not None or body.text is not None or body.html is not None:
            raise ValidationError(errors=[{"field": "template", "message": "give a template or subject/text/html"}])
        try:
            return find_template(tenant.id, body.template), "template"
        except TemplateNotFoundError:
            raise ValidationError(errors=[{"field": "template", "message": f"no template named {body.template!r}"}]
                                  ) from None
    if body.text is None and body.html is None:
        raise ValidationError(errors=[{"field": "text", "message": "text, html or template is required"}])
    if body.subject is None:
        raise ValidationError(errors=[{"field": "subject", "message": "required"}])
    source = TemplateSource(body.subject, body.html, body.text)
    refuse_unsafe(source)
    return source, ""


def audience(tenant_id: uuid.UUID, wanted: AudienceIn) -> list[tuple[uuid.UUID, str, str]]:
    """(id, email, name) of the tenant's active users matching the audience — this tenant only."""
    query = select(User.id, User.email, User.name).where(
        User.tenant_id == tenant_id, User.is_active.is_(True), User.role.in_(wanted.roles)
    )
    if wanted.verified_only:
        query = query.where(User.email_verified_at.is_not(None))
    return [tuple(row) for row in db.session.execute(query.order_by(User.created_at, User.id))]  # type: ignore[misc]


def start_broadcast(principal: Principal, body: BroadcastRequest) -> tuple[Message, int]:
    """Validate, store and enqueue a broadcast; (message, recipient count)."""
    config: Config = current_app.config["MAILER"]
    tenant = db.session.get(Tenant, principal.tenant_id)
    source, field = _source(tenant, body)
    members = audience(tenant.id, body.audience)
    if not members:
        raise ValidationError(errors=[{"field": "audience", "message": "no active user matches the audience"}])
    sender = sender_of(tenant, config).email
    message_id = uuid.uuid4()
    _, first_email, first_name = members[0]
    try:
        with validation_errors():
            build_mail(config, tenant, sender, source, body.data, Member(first_email, first_name), "<probe@localhost>")
    except TemplateRenderError as exc:
        where = f"{field}.{exc.part}" if field else exc.part
        raise TemplateError(str(exc), errors=[{"field": where, "message": str(exc)}]) from None

    try:
        reserve_recipients(config, tenant.id, len(members))
    except QuotaExceededError:
        db.session.rollback()  # releases the tenant row the quota check locked
        raise
    message = Message(
        id=message_id, tenant_id=tenant.id, kind=MessageKind.BROADCAST.value, created_by=principal.id,
        creator_type=principal.kind, subject=" ".join(source.subject.split())[:MAX_SUBJECT_COLUMN], sender=sender,
        message_id_header=f"<{message_id.hex}@{sender.rpartition('@')[2] or 'localhost'}>", raw_mime=None,
        queue="bulk", status=MessageStatus.QUEUED.value, tags=body.tags, meta=body.metadata,
    )
    db.session.add(message)
    db.session.flush()  # no ORM relationship orders these inserts: the message row goes first
    db.session.add(BroadcastContent(message_id=message_id, subject=source.subject, html=source.html,
                                    text=source.text, data=body.data))
    db.session.flush()
    db.session.execute(insert(Recipient), [
        {"id": uuid.uuid4(), "message_id": message_id, "tenant_id": tenant.id, "position": i, "email": email,
         "name": name or ""}
        for i, (_, email, name) in enumerate(members)
    ])
    record_audit("broadcast.created", tenant_id=tenant.id, actor_id=principal.id, actor_type=principal.kind,
                 details={"message_id": str(message_id), "recipient_count": len(members),
                          "template": body.template, "roles": list(body.audience.roles),
                          "verified_only": body.audience.verified_only})
    db.session.commit()
    enqueue_delivery(message.id, message.queue)  # with Redis down, the sweeper enqueues them later
    return message, len(members)
