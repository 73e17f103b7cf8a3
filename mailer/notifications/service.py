"""Sending rules: compose a message for the caller's tenant and hand it to the outbox."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import current_app

from mailer.audit import record_audit
from mailer.config import Config
from mailer.errors import QuotaExceededError, TemplateError, ValidationError
from mailer.extensions import db
from mailer.feedback.suppressions import screen_new_message
from mailer.mail.compose import address, compose, validation_errors
from mailer.mail.outbox import commit_and_enqueue
from mailer.mail.quota import reserve_recipients
from mailer.mail.templates import Rendered, TemplateNotFoundError, TemplateRenderError, find_template, render
from mailer.models import Message, MessageKind, MessageStatus, Recipient, Tenant
from mailer.notifications.idempotency import KeyedRequest, remember
from mailer.notifications.schemas import AddressIn, MessageRequest
from mailer.notifications.serializers import accepted_json
from mailer.security.types import Principal
from mailer.smtp.mime import Address, Attachment
from mailer.smtp.validation import (
    check_custom_headers,
    check_filename,
    check_recipient_count,
    decode_attachment,
)

MAX_SCHEDULE_AHEAD = timedelta(days=7)


def _addresses(items: list[AddressIn], field: str) -> list[Address]:
    result = []
    for index, item in enumerate(items):
        email, name = (item, "") if isinstance(item, str) else (item.email, item.name)
        result.append(address(email, name, field=f"{field}[{index}]"))
    return result


def _check_send_at(send_at: datetime | None) -> datetime | None:
    if send_at is None:
        return None
    if send_at.tzinfo is None:
        raise ValidationError(errors=[{"field": "send_at", "message": "must include a time zone"}])
    now = datetime.now(UTC)
    if send_at > now + MAX_SCHEDULE_AHEAD:
        raise ValidationError(errors=[{"field": "send_at", "message": "at most 7 days ahead"}])
    return send_at.astimezone(UTC) if send_at > now else None


def tenant_context(tenant: Tenant) -> dict[str, Any]:
    return {"tenant": {"name": tenant.name, "slug": tenant.slug}}


def render_for(tenant: Tenant, name: str, context: dict[str, Any], *, field: str = "template") -> Rendered:
    """Render the tenant's (or the built-in) template; 422 naming the field, part and line."""
    try:
        return render(find_template(tenant.id, name), context)
    except TemplateNotFoundError:
        raise ValidationError(errors=[{"field": field, "message": f"no template named {name!r}"}]) from None
    except TemplateRenderError as exc:
        raise TemplateError(str(exc), errors=[{"field": f"{field}.{exc.part}", "message": str(exc)}]) from None


def _content(tenant: Tenant, body: MessageRequest) -> tuple[str, str | None, str | None]:
    if body.template is not None:
        if body.subject is not None or body.text is not None or body.html is not None:
            raise ValidationError(errors=[{"field": "template", "message": "give a template or subject/text/html"}])
        rendered = render_for(tenant, body.template, {**body.data, **tenant_context(tenant)})
        return rendered.subject, rendered.text, rendered.html
    if body.text is None and body.html is None:
        raise ValidationError(errors=[{"field": "text", "message": "text, html or template is required"}])
    if body.subject is None:
        raise ValidationError(errors=[{"field": "subject", "message": "required"}])
    return body.subject, body.text, body.html


def create_message(principal: Principal, body: MessageRequest, keyed: KeyedRequest | None = None) -> Message:
    """Validate, build and commit the message, then enqueue it.

    With ``keyed`` (an Idempotency-Key) the 202 body is stored in the same transaction; a
    concurrent duplicate makes the commit raise IntegrityError (the caller replays).
    """
    config = current_app.config["MAILER"]
    tenant = db.session.get(Tenant, principal.tenant_id)
    message = build_message(config, principal, tenant, body)
    try:
        reserve_quota(config, principal, tenant.id, len(message.recipients))
    except QuotaExceededError:
        db.session.rollback()  # releases the tenant row the quota check locked
        raise
    add_message(principal, message)
    if keyed is not None:
        remember(tenant.id, keyed, message.id, 202, accepted_json(message))
    commit_and_enqueue(message)
    return message


def build_message(config: Config, principal: Principal, tenant: Tenant, body: MessageRequest) -> Message:
    """Validate and compose ``body``: the message with its recipients, not yet in the session.

    Raises ValidationError, TemplateError (422) or PayloadTooLargeError (413); writes nothing.
    """
    subject, text, html = _content(tenant, body)
    with validation_errors():
        to, cc, bcc = _addresses(body.to, "to"), _addresses(body.cc, "cc"), _addresses(body.bcc, "bcc")
        check_recipient_count(len(to) + len(cc) + len(bcc), config.MAX_RECIPIENTS)
        reply_to = _addresses([body.reply_to], "reply_to")[0] if body.reply_to else None
        headers = check_custom_headers(body.headers)
        attachments = [
            Attachment(check_filename(a.filename, field=f"attachments[{i}].filename"), a.content_type,
                       decode_attachment(a.content, field=f"attachments[{i}].content"))
            for i, a in enumerate(body.attachments)
        ]
    send_at = _check_send_at(body.send_at)
    composed = compose(
        config, tenant, to=to, cc=cc, bcc=bcc, subject=subject, text=text, html=html,
        reply_to=reply_to, attachments=attachments, headers=headers,
    )
    message = Message(
        id=uuid.uuid4(),  # known before any flush: add_message audits it in the same flush
        tenant_id=tenant.id,
        kind=MessageKind.CUSTOM.value,
        created_by=principal.id,
        creator_type=principal.kind,
        subject=composed.subject,
        sender=composed.sender,
        message_id_header=composed.message_id,
        raw_mime=composed.wire,
        queue="default",
        status=(MessageStatus.SCHEDULED if send_at else MessageStatus.QUEUED).value,
        tags=body.tags,
        meta=body.metadata,
        send_at=send_at,
    )
    message.recipients = [
        Recipient(tenant_id=tenant.id, position=i, email=r.email, name=r.name, next_attempt_at=send_at)
        for i, r in enumerate(composed.recipients)
    ]
    return message


def reserve_quota(config: Config, principal: Principal, tenant_id: uuid.UUID, count: int) -> None:
    """The tenant's daily quota, and inside it a role-`user` caller's own (API.md §5). Raises QuotaExceededError."""
    own = principal.id if principal.kind == "user" and principal.role == "user" else None
    reserve_recipients(config, tenant_id, count, user_id=own)


def add_message(principal: Principal, message: Message) -> None:
    """Add a built message to the session, fail its suppressed recipients (the 202 shows them), audit it.

    The caller commits and enqueues.
    """
    db.session.add(message)
    db.session.flush()
    screen_new_message(message)
    record_audit("message.created", tenant_id=message.tenant_id, actor_id=principal.id, actor_type=principal.kind,
                 details={"message_id": str(message.id), "recipients": len(message.recipients)})
