"""Sending rules: a message request as named steps, and the transaction that stores it.

prepare_message validates and composes (nothing stored); stage_message adds the rows, reserves
quota, audits and stages the outbox jobs in the caller's transaction; create_message commits that
transaction and enqueues after the commit (the outbox rule). A batch calls the first two per item.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import current_app

from mailer.audit import chained_rows
from mailer.config import Config
from mailer.errors import ValidationError
from mailer.extensions import atomic, db
from mailer.i18n import rendered_in
from mailer.mail.compose import ComposedMessage, address, compose
from mailer.mail.outbox import StagedJob, enqueue, stage_together
from mailer.mail.quota import counted, quota_applies
from mailer.mail.suppressions import add_suppressed_events, suppressed_pairs
from mailer.mail.templates import render, tenant_context
from mailer.models import ActorType, AuditEvent, Message, MessageKind, MessageStatus, Recipient, Role, Tenant
from mailer.notifications.content import requested_content
from mailer.notifications.idempotency import KeyedRequest, remember
from mailer.notifications.rows import insert_with_tenant_row, locked_and_screened, new_rows
from mailer.notifications.schemas import AddressIn, MessageRequest
from mailer.notifications.serializers import accepted_json
from mailer.security.types import Principal
from mailer.smtp.mime import Address, Attachment
from mailer.smtp.validation import (
    check_content_type,
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


def check_send_at(send_at: datetime | None) -> datetime | None:
    if send_at is None:
        return None
    if send_at.tzinfo is None:
        raise ValidationError(errors=[{"field": "send_at", "message": "must include a time zone"}])
    now = datetime.now(UTC)
    if send_at > now + MAX_SCHEDULE_AHEAD:
        raise ValidationError(errors=[{"field": "send_at", "message": "at most 7 days ahead"}])
    return send_at.astimezone(UTC) if send_at > now else None


@dataclass(frozen=True)
class Envelope:
    to: list[Address]
    cc: list[Address]
    bcc: list[Address]
    reply_to: Address | None
    headers: tuple[tuple[str, str], ...]
    attachments: list[Attachment]
    send_at: datetime | None


@dataclass(frozen=True)
class Draft:
    """One request validated and composed: everything a message row needs, nothing stored yet."""

    composed: ComposedMessage
    send_at: datetime | None
    tags: list[str]
    meta: dict[str, Any]
    locale: str | None = None


def resolve_content(tenant: Tenant, body: MessageRequest) -> tuple[str, str | None, str | None]:
    """(subject, text, html): the named template rendered with the request's data, or the request's own parts."""
    content = requested_content(tenant.id, body.template, body.subject, body.text, body.html, body.locale)
    if not content.named:
        return content.source.subject, content.source.text, content.source.html
    with rendered_in(body.locale or tenant.default_locale):  # gettext in a template speaks the message's language
        rendered = render(content.source, {**body.data, **tenant_context(tenant)})
    return rendered.subject, rendered.text, rendered.html


def check_envelope(config: Config, body: MessageRequest) -> Envelope:
    """Addresses, recipient count, headers, attachments and send_at; MessageValidationError names the field."""
    to, cc, bcc = _addresses(body.to, "to"), _addresses(body.cc, "cc"), _addresses(body.bcc, "bcc")
    check_recipient_count(len(to) + len(cc) + len(bcc), config.MAX_RECIPIENTS)
    reply_to = _addresses([body.reply_to], "reply_to")[0] if body.reply_to else None
    attachments = [
        Attachment(check_filename(a.filename, field=f"attachments[{i}].filename"),
                   check_content_type(a.content_type, field=f"attachments[{i}].content_type"),
                   decode_attachment(a.content, field=f"attachments[{i}].content"))
        for i, a in enumerate(body.attachments)
    ]
    return Envelope(to, cc, bcc, reply_to, check_custom_headers(body.headers), attachments,
                    check_send_at(body.send_at))


def prepare_message(config: Config, tenant: Tenant, body: MessageRequest) -> Draft:
    """Validate and compose one message request (no database writes): the reusable first half of sending."""
    subject, text, html = resolve_content(tenant, body)
    envelope = check_envelope(config, body)
    composed = compose(
        config, tenant, to=envelope.to, cc=envelope.cc, bcc=envelope.bcc, subject=subject, text=text, html=html,
        reply_to=envelope.reply_to, attachments=envelope.attachments, headers=envelope.headers,
    )
    return Draft(composed, envelope.send_at, body.tags, body.metadata, body.locale)


def new_message(tenant_id: uuid.UUID, principal: Principal, draft: Draft) -> Message:
    send_at = draft.send_at
    message = Message(
        id=uuid.uuid4(),  # known before the insert: its recipients and audit event name it
        tenant_id=tenant_id,
        kind=MessageKind.CUSTOM,
        created_by=principal.id,
        creator_type=principal.kind,
        subject=draft.composed.subject,
        sender=draft.composed.sender,
        message_id_header=draft.composed.message_id,
        raw_mime=draft.composed.wire,
        queue="default",
        status=MessageStatus.SCHEDULED if send_at else MessageStatus.QUEUED,
        tags=draft.tags,
        meta=draft.meta,
        send_at=send_at,
        locale=draft.locale,
    )
    message.recipients = [
        Recipient(tenant_id=tenant_id, position=i, email=r.email, name=r.name, next_attempt_at=send_at)
        for i, r in enumerate(draft.composed.recipients)
    ]
    return message


def _own_quota(principal: Principal) -> uuid.UUID | None:
    """A role-`user` caller's id: its own daily quota applies inside the tenant's."""
    return principal.id if principal.kind == ActorType.USER and principal.role == Role.USER else None


def _audit_details(message: Message) -> dict[str, Any]:
    return {"message_id": str(message.id), "recipients": len(message.recipients)}


def may_refuse(config: Config, principal: Principal) -> bool:
    """Whether stage_message can refuse this caller's draft (a daily quota applies): a batch then needs a
    savepoint per item, which PostgreSQL pays for (a subtransaction each, ~30 % of a batch's time)."""
    return quota_applies(config, _own_quota(principal))


def stage_message(
    config: Config, principal: Principal, tenant: Tenant, draft: Draft,
) -> tuple[Message, list[StagedJob]]:
    """One draft staged in the caller's transaction (the caller commits, then enqueues; a batch runs each
    item in a savepoint): stage_messages for one draft."""
    return stage_messages(config, principal, tenant.id, [draft])[0]


def stage_messages(
    config: Config, principal: Principal, tenant_id: uuid.UUID, drafts: Sequence[Draft],
) -> list[tuple[Message, list[StagedJob]]]:
    """Stage several drafts of one caller in its transaction (SMTP submission's group commit stages the
    messages waiting together this way): their rows built, then one locking read of the tenant row (which on
    PostgreSQL also carries the suppression screen of all their recipients), the quota counted for the total
    and one audit event each, chained; then one write of it all (rows.insert_with_tenant_row: on PostgreSQL one
    statement for the messages, recipients, audit events and the tenant row's UPDATE).

    The tenant row's lock orders every request of the tenant, so it is held for as little as possible: from
    that read to the commit there are one statement and the COMMIT. A refused quota raises before anything
    is written, and the caller's transaction (a batch item's savepoint) rolls back the rest.
    """
    messages = [new_message(tenant_id, principal, draft) for draft in drafts]
    staged = list(zip(messages, stage_together(messages), strict=True))
    rows = new_rows(messages)
    count = sum(len(message.recipients) for message in messages)
    # One locking read and one UPDATE of the tenant row for both the quota and the audit chain head.
    locked = locked_and_screened(messages, rows)
    # The rows are not in yet (they go with the tenant row's UPDATE): a day's first count finds none of them.
    values = counted(config, tenant_id, count, locked.quota_day, locked.quota_used, user_id=_own_quota(principal))
    _, audit_rows, head = chained_rows("message.created", tenant_id=tenant_id, seq=locked.audit_seq,
                                   head=locked.audit_head, actor_id=principal.id, actor_type=principal.kind,
                                   details=[_audit_details(message) for message, _ in staged])
    insert_with_tenant_row(tenant_id, [*rows, (AuditEvent.__table__, audit_rows)], {**values, **head})
    add_suppressed_events(suppressed_pairs(rows[1][1]))
    return staged


def create_message(principal: Principal, body: MessageRequest, keyed: KeyedRequest | None = None) -> dict[str, Any]:
    """Validate and compose, then store the message in one transaction and enqueue its jobs after the commit.

    Returns the 202 body, made before the commit: afterwards the committed rows would have to be
    loaded again to read them. With ``keyed`` (an Idempotency-Key) that body is stored in the same
    transaction; a concurrent duplicate makes the commit raise IntegrityError
    (idempotency.replay_or_create answers with the winner's).
    """
    config: Config = current_app.config["MAILER"]
    tenant = db.session.get(Tenant, principal.tenant_id)
    draft = prepare_message(config, tenant, body)
    with atomic():
        message, jobs = stage_message(config, principal, tenant, draft)
        accepted = accepted_json(message)
        if keyed is not None:
            remember(tenant.id, keyed, message.id, 202, accepted)
        enqueue(jobs)
    return accepted

