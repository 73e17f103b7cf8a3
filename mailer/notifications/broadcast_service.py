"""Company broadcasts: one mail per active user of the tenant, each rendered for its recipient.

A broadcast is a message with kind `broadcast`, no stored wire form (raw_mime None), the
`bulk` queue, and a frozen copy of its template source and data (BroadcastContent).
Everything that can be checked is checked before anything is stored: the template's
safety, a full render and build for the first recipient, the daily quota. The service
commits, then enqueues; workers render each recipient's mail (mailer.mail.personalize).

At 100 000 recipients the request must stay within seconds and a web worker's memory: the
audience and its suppression screen are one query, the rows go in with COPY (bulk_rows.py)
carrying their job ids, the suppressed rows' events are written in bulk, and the jobs reach
Redis in one pipeline. No ORM object is made per recipient.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import Select, select

from mailer.audit import record_audit
from mailer.config import Config
from mailer.errors import ValidationError
from mailer.extensions import atomic, db
from mailer.i18n import rendered_in
from mailer.mail.compose import sender_of
from mailer.mail.outbox import StagedJob, enqueue, stage
from mailer.mail.personalize import MAX_SUBJECT_COLUMN, Member, build_mail, context_for
from mailer.mail.quota import reserve_recipients
from mailer.mail.suppressions import (
    add_suppressed_events,
    erased_hits,
    fail_as_suppressed,
    fail_if_all_suppressed,
    scopes_for,
    suppressed_clause,
)
from mailer.mail.templates import Rendered, TemplateSource, check_template, reader_locale, render, template_variants
from mailer.models import (
    BroadcastContent,
    Message,
    MessageKind,
    MessageStatus,
    Recipient,
    RecipientStatus,
    Tenant,
    User,
)
from mailer.models.message import queue_priority
from mailer.models.types import utcnow
from mailer.notifications.bulk_rows import insert_rows, refresh_statistics
from mailer.notifications.content import requested_content
from mailer.notifications.schemas import AudienceIn, BroadcastRequest
from mailer.notifications.service import check_send_at
from mailer.security.types import Principal
from mailer.smtp.mime import message_id_domain

# Recipient rows per INSERT: bounded memory and statement size whatever the audience.
INSERT_ROWS = 5000
# From this many rows the planner is told at once (autovacuum takes up to a minute): on a table whose
# statistics predate them, every claim of the broadcast's rows runs a nested loop over all of them.
ANALYZE_AFTER_ROWS = 10_000
_Member = tuple[str, str, bool, str]  # email, name, suppressed as written, language


def _source(tenant: Tenant, body: BroadcastRequest) -> tuple[TemplateSource, dict[str, TemplateSource]]:
    """The template to freeze and its language variants (API.md §14): a named one as stored, or the request's
    own parts (no variants) once they pass the safety check."""
    content = requested_content(tenant.id, body.template, body.subject, body.text, body.html)
    if not content.named:
        check_template(content.source)
        return content.source, {}
    return content.source, template_variants(tenant.id, body.template or "")


def audience_query(tenant_id: uuid.UUID, wanted: AudienceIn) -> Select[Any]:
    """(email, name, suppressed, locale) of the tenant's active users matching the audience — this tenant only —
    screened against the suppression list in the same query (API.md §8)."""
    suppressed = suppressed_clause(tenant_id, User.email, scopes_for(MessageKind.BROADCAST))
    query = select(User.email, User.name, suppressed.label("suppressed"), User.locale).where(
        User.tenant_id == tenant_id, User.is_active.is_(True), User.role.in_(wanted.roles)
    )
    if wanted.verified_only:
        query = query.where(User.email_verified_at.is_not(None))
    return query.order_by(User.created_at, User.id)


def audience(config: Config, tenant: Tenant, wanted: AudienceIn) -> list[_Member]:
    """The members, each with the language its copy is written in (its user's, else the tenant's default)."""
    members: list[_Member] = [
        (email, name or "", bool(hit), reader_locale(config, tenant, locale))
        for email, name, hit, locale in db.session.execute(audience_query(tenant.id, wanted))
    ]
    erased = erased_hits(tenant.id, [email for email, _, hit, _ in members if not hit],
                         scopes_for(MessageKind.BROADCAST))
    if erased:
        members = [(email, name, hit or email.lower() in erased, locale) for email, name, hit, locale in members]
    return members


def _members(config: Config, tenant: Tenant, body: BroadcastRequest) -> list[_Member]:
    members = audience(config, tenant, body.audience)
    if not members:
        raise ValidationError(errors=[{"field": "audience", "message": "no active user matches the audience"}])
    return members


def preview_broadcast(principal: Principal, body: BroadcastRequest) -> tuple[str, Rendered]:
    """The first audience member's copy as the workers would render it (same sandbox, same context); nothing
    is stored. (that member's address, the rendered parts); the errors of start_broadcast."""
    config: Config = current_app.config["MAILER"]
    tenant = db.session.get(Tenant, principal.tenant_id)
    source, variants = _source(tenant, body)
    email, name, _, locale = _members(config, tenant, body)[0]
    check_send_at(body.send_at)
    with rendered_in(locale):  # in that member's language, their variant when there is one (API.md §14)
        return email, render(variants.get(locale, source), context_for(tenant, body.data, email, name))


def start_broadcast(principal: Principal, body: BroadcastRequest) -> tuple[Message, int]:
    """Validate, store (one transaction, committed here) and then enqueue a broadcast; (message, recipient count)."""
    config: Config = current_app.config["MAILER"]
    tenant = db.session.get(Tenant, principal.tenant_id)
    source, variants = _source(tenant, body)
    members = _members(config, tenant, body)
    send_at = check_send_at(body.send_at)
    sender = sender_of(tenant, config).email
    _probe(config, tenant, sender, source, variants, body.data, members)
    with atomic():
        message, jobs = _store(config, principal, tenant, body, (source, variants), sender, members, send_at)
        enqueue(jobs)  # scheduled ones wait in RQ for send_at (the rows' next_attempt_at decides)
    if len(members) >= ANALYZE_AFTER_ROWS:
        refresh_statistics(Recipient.__table__)
    return message, len(members)


def _probe(config: Config, tenant: Tenant, sender: str, source: TemplateSource, variants: dict[str, TemplateSource],
           data: dict[str, Any], members: list[_Member]) -> None:
    """Build the first member's copy in each language of the audience: a broken template or variant is a 422."""
    first_of: dict[str, _Member] = {}
    for member in members:
        first_of.setdefault(member[3], member)
    for email, name, _, locale in first_of.values():
        build_mail(config, tenant, sender, source, data, Member(email, name, locale), "<probe@localhost>",
                   variants=variants)


def _store(config: Config, principal: Principal, tenant: Tenant, body: BroadcastRequest,
           content: tuple[TemplateSource, dict[str, TemplateSource]], sender: str,
           members: list[_Member], send_at: datetime | None) -> tuple[Message, list[StagedJob]]:
    """Reserve quota, add the message, its frozen content and recipients (each with its job), audit:
    in the caller's transaction. Returns the message and the jobs to enqueue once it commits."""
    reserve_recipients(config, tenant.id, len(members))
    source, variants = content
    message_id = uuid.uuid4()
    message = Message(
        id=message_id, tenant_id=tenant.id, kind=MessageKind.BROADCAST, created_by=principal.id,
        creator_type=principal.kind, subject=" ".join(source.subject.split())[:MAX_SUBJECT_COLUMN], sender=sender,
        message_id_header=f"<{message_id.hex}@{message_id_domain(sender)}>", raw_mime=None,
        queue="bulk", status=(MessageStatus.SCHEDULED if send_at else MessageStatus.QUEUED).value,
        tags=body.tags, meta=body.metadata, send_at=send_at,
    )
    db.session.add(message)
    db.session.flush()  # no ORM relationship orders these inserts: the message row goes first
    db.session.add(BroadcastContent(
        message_id=message_id, subject=source.subject, html=source.html, text=source.text, data=body.data,
        variants={locale: {"subject": v.subject, "html": v.html, "text": v.text} for locale, v in variants.items()}
        or None))
    db.session.flush()
    jobs, suppressed_ids = _insert_recipients(message, members)
    suppressed = [(row_id, tenant.id) for row_id in suppressed_ids]
    fail_if_all_suppressed(message, len(suppressed), len(members))
    add_suppressed_events(suppressed)
    record_audit("broadcast.created", tenant_id=tenant.id, actor_id=principal.id, actor_type=principal.kind,
                 details={"message_id": str(message_id), "recipient_count": len(members),
                          "template": body.template, "roles": list(body.audience.roles),
                          "verified_only": body.audience.verified_only})
    return message, jobs


def _insert_recipients(message: Message, members: list[_Member]) -> tuple[list[StagedJob], list[uuid.UUID]]:
    """Insert the rows in bulk, every column given (no per-row ORM work); each waiting row names the job
    ``outbox.stage`` gave it, and a suppressed one is failed at once. Returns (jobs, suppressed ids)."""
    now = utcnow()
    row_ids = [uuid.uuid4() for _ in members]
    jobs = stage(message, [row_id for row_id, (_, _, hit, _) in zip(row_ids, members, strict=True) if not hit])
    job_ids = iter([job.job_id for job in jobs for _ in job.recipient_ids])  # the waiting rows' jobs, in order
    suppressed: list[uuid.UUID] = []
    for start in range(0, len(members), INSERT_ROWS):
        rows: list[dict[str, Any]] = []
        for position, (email, name, hit, locale) in enumerate(members[start:start + INSERT_ROWS], start):
            row_id = row_ids[position]
            if hit:
                suppressed.append(row_id)
                rows.append(_row(message, row_id, position, (email, name, locale), now))
                fail_as_suppressed(rows[-1])
                continue
            rows.append(_row(message, row_id, position, (email, name, locale), now, job_id=next(job_ids),
                             next_attempt_at=message.send_at))
        insert_rows(Recipient.__table__, rows)
    return jobs, suppressed


def _row(message: Message, row_id: uuid.UUID, position: int, who: tuple[str, str, str], now: datetime, *,
         job_id: str | None = None, next_attempt_at: datetime | None = None) -> dict[str, Any]:
    email, name, locale = who
    return {
        "id": row_id, "message_id": message.id, "tenant_id": message.tenant_id, "position": position,
        "priority": queue_priority(message.queue),
        "email": email, "name": name, "status": RecipientStatus.QUEUED.value, "error_code": None, "attempts": 0,
        "smtp_code": None, "enhanced_code": None, "smtp_response": None, "smtp_message_id": None,
        "last_error": None, "sent_at": None, "next_attempt_at": next_attempt_at, "lease_until": None,
        "claim_token": None, "attempt_started_at": None, "job_id": job_id, "created_at": now, "updated_at": now,
        "locale": locale,
    }
