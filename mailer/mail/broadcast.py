"""Company broadcasts: one mail per active user of the tenant, each rendered for its recipient.

A broadcast is a message with kind `broadcast`, no stored wire form (raw_mime None), the
`bulk` queue, and a frozen copy of its template source and data (BroadcastContent).
Everything that can be checked is checked before anything is stored: the template's
safety, a full render and build for the first recipient, the daily quota.
Workers call `render_recipient_mail` for each recipient; one that cannot be rendered
fails alone (`invalid_message`) and never stops the others.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import insert, select

from mailer.audit import record_audit
from mailer.config import Config
from mailer.domains.signing import dkim_sign
from mailer.errors import TemplateError, ValidationError
from mailer.extensions import db
from mailer.mail.compose import sender_of, validation_errors
from mailer.mail.outbox import enqueue_delivery
from mailer.mail.templates import TemplateNotFoundError, TemplateRenderError, TemplateSource, find_template, render
from mailer.models import BroadcastContent, Message, MessageKind, MessageStatus, Recipient, Tenant, User
from mailer.notifications.schemas import AudienceIn, BroadcastRequest
from mailer.quota import reserve_recipients
from mailer.security.principal import Principal
from mailer.smtp.mime import Address, MessageContent, build_message, to_bytes
from mailer.smtp.validation import MessageValidationError, check_display_name, check_size, check_subject

log = logging.getLogger(__name__)
MAX_SUBJECT_COLUMN = 998


class RecipientRenderError(Exception):
    """This recipient's mail cannot be built (template or size); it fails alone."""


@dataclass(frozen=True)
class Member:
    email: str
    name: str


def context_for(tenant: Tenant, data: dict[str, Any], email: str, name: str) -> dict[str, Any]:
    """What a broadcast template sees: its data (also as `data`), `recipient` and `tenant`."""
    return {**data, "data": data, "recipient": {"email": email, "name": name},
            "tenant": {"name": tenant.name, "slug": tenant.slug}}


def build_mail(
    config: Config, tenant: Tenant, sender: str, source: TemplateSource, data: dict[str, Any],
    member: Member, message_id: str,
) -> bytes:
    """Render and build one recipient's mail. Raises TemplateRenderError or MessageValidationError."""
    rendered = render(source, context_for(tenant, data, member.email, member.name))
    check_subject(rendered.subject)
    try:
        name = check_display_name(member.name, field="name")
    except MessageValidationError:
        name = ""  # a display name we cannot put in a header is dropped, not fatal
    content = MessageContent(
        sender=Address(sender, sender_of(tenant, config).name), to=(Address(member.email, name),),
        subject=rendered.subject, text=rendered.text, html=rendered.html,
    )
    wire = to_bytes(build_message(content, message_id=message_id))
    check_size(wire, config.MAX_MESSAGE_BYTES)
    return wire


def recipient_message_id(message: Message, recipient_id: uuid.UUID) -> str:
    """Stable per recipient, so a retried copy carries the same Message-ID."""
    domain = message.sender.rpartition("@")[2] or "localhost"
    return f"<{recipient_id.hex}.{message.id.hex[:12]}@{domain}>"


def render_recipient_mail(message: Message, recipient: Recipient) -> tuple[bytes, str]:
    """(wire bytes, Message-ID) of a per-recipient message; RecipientRenderError if it cannot be built."""
    config: Config = current_app.config["MAILER"]
    content = db.session.get(BroadcastContent, message.id)
    tenant = db.session.get(Tenant, message.tenant_id)
    if content is None or tenant is None:
        raise RecipientRenderError("the broadcast's content is missing")
    source = TemplateSource(content.subject, content.html, content.text)
    message_id = recipient_message_id(message, recipient.id)
    try:
        wire = build_mail(config, tenant, message.sender, source, content.data,
                          Member(recipient.email, recipient.name), message_id)
    except (TemplateRenderError, MessageValidationError) as exc:
        raise RecipientRenderError(str(exc)) from None
    return dkim_sign(config, tenant.id, message.sender, wire), message_id


def _source(tenant: Tenant, body: BroadcastRequest) -> tuple[TemplateSource, str]:
    """The template to freeze, and the field name errors are reported under."""
    from mailer.notifications.template_service import check_template

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
    check_template(source)
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

    reserve_recipients(config, tenant.id, len(members))
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
