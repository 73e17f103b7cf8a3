"""The hook points the mail pipeline calls: message events from recorded results, `broadcast.finished`
from the roll-up, and one message event for the feedback path (bounces, complaints, suppressions).

Each adds rows to the caller's session and never commits: the events share the transaction of the
status change they report.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailer.models import Message, MessageKind, MessageStatus, Recipient, RecipientStatus
from mailer.models.webhook import WebhookEvent
from mailer.smtp.results import ErrorCode
from mailer.webhooks.events import EventDraft, EventType, record_events, subscribers_of

_BY_STATUS = {
    RecipientStatus.SENT.value: EventType.MESSAGE_SENT,
    RecipientStatus.DEFERRED.value: EventType.MESSAGE_DEFERRED,
    RecipientStatus.FAILED.value: EventType.MESSAGE_FAILED,
}
_FINISHED = (MessageStatus.SENT.value, MessageStatus.FAILED.value, MessageStatus.PARTIALLY_FAILED.value)
_EVENT_CHUNK = 1000


class _HasTenant(Protocol):
    tenant_id: uuid.UUID


def _recipient_rows(session: Session, recipient_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Any]:
    rows = session.execute(
        select(Recipient.id, Recipient.email, Recipient.message_id, Recipient.status, Recipient.smtp_code,
               Recipient.enhanced_code, Recipient.smtp_response, Message.kind, Message.tags, Message.meta)
        .join(Message, Message.id == Recipient.message_id)
        .where(Recipient.id.in_(list(recipient_ids)))
    )
    return {row.id: row for row in rows}


def message_event_data(row: Any, **overrides: Any) -> dict[str, Any]:
    """`data` of a message event (API.md §9) from a recipient row joined with its message."""
    data = {
        "message_id": str(row.message_id), "recipient_id": str(row.id), "email": row.email,
        "status": row.status, "kind": row.kind, "tags": list(row.tags or []), "metadata": dict(row.meta or {}),
        "smtp_code": row.smtp_code, "enhanced_code": row.enhanced_code, "response": row.smtp_response,
    }
    data.update(overrides)
    return data


def record_result_events(session: Session, attempts: Sequence[_HasTenant], rows: Sequence[Mapping[str, Any]]) -> None:
    """`message.sent|deferred|failed` for each recorded attempt (``rows``: what was written,
    with ``b_id``, ``status``, ``error_code``, ``smtp_code``, ``enhanced_code``, ``smtp_response``)."""
    tenants = {a.tenant_id for a in attempts}
    if not subscribers_of(session, tenants):
        return
    known = _recipient_rows(session, [row["b_id"] for row in rows])
    drafts = []
    for attempt, row in zip(attempts, rows, strict=True):
        recipient = known.get(row["b_id"])
        if recipient is None or row["error_code"] == ErrorCode.SUPPRESSED:
            continue  # message.suppressed comes from feedback's announcement (feedback_events)
        kind = _BY_STATUS[row["status"]]
        data = message_event_data(recipient, status=row["status"], smtp_code=row["smtp_code"],
                                  enhanced_code=row["enhanced_code"], response=row["smtp_response"])
        drafts.append(EventDraft(attempt.tenant_id, kind, data, recipient.message_id))
    record_events(session, drafts)


def record_message_event(session: Session, event_type: EventType | str, recipient_id: uuid.UUID,
                         **data: Any) -> uuid.UUID | None:
    """One message event about a recipient as it is now in ``session`` (bounced, complained, suppressed);
    ``data`` adds or overrides fields (e.g. ``smtp_code``, ``enhanced_code``, ``response`` of a report)."""
    session.flush()
    row = _recipient_rows(session, [recipient_id]).get(recipient_id)
    if row is None:
        return None
    tenant_id = session.scalar(select(Recipient.tenant_id).where(Recipient.id == recipient_id))
    drafts = [EventDraft(tenant_id, EventType(event_type), message_event_data(row, **data), row.message_id)]
    return record_events(session, drafts)[0]


def record_message_events_each(session: Session,
                               items: Sequence[tuple[EventType | str, uuid.UUID, dict[str, Any]]]) -> None:
    """``record_message_event`` for many (event type, recipient id, data) at once: their tenants' subscribers
    looked up once (nothing more without one), then one query and two bulk inserts."""
    if not items:
        return
    session.flush()
    recipient_ids = list({recipient_id for _, recipient_id, _ in items})
    tenants = dict(session.execute(
        select(Recipient.id, Recipient.tenant_id).where(Recipient.id.in_(recipient_ids))).tuples().all())
    if not subscribers_of(session, set(tenants.values())):
        return
    rows = _recipient_rows(session, recipient_ids)
    record_events(session, [
        EventDraft(tenants[recipient_id], EventType(event_type), message_event_data(rows[recipient_id], **data),
                   rows[recipient_id].message_id)
        for event_type, recipient_id, data in items if recipient_id in rows
    ])


def record_message_events(session: Session, event_type: EventType | str, recipient_ids: Sequence[uuid.UUID],
                          **data: Any) -> None:
    """``record_message_event`` for many recipients: their tenants' subscribers looked up once (nothing more
    without one), then one query and two bulk inserts per chunk."""
    session.flush()
    chunks = [list(recipient_ids[start:start + _EVENT_CHUNK]) for start in range(0, len(recipient_ids), _EVENT_CHUNK)]
    tenants: set[uuid.UUID] = set()
    for chunk in chunks:
        tenants.update(session.scalars(select(Recipient.tenant_id).where(Recipient.id.in_(chunk)).distinct()))
    if not subscribers_of(session, tenants):
        return
    for chunk in chunks:
        rows = session.execute(
            select(Recipient.id, Recipient.email, Recipient.message_id, Recipient.status, Recipient.smtp_code,
                   Recipient.enhanced_code, Recipient.smtp_response, Recipient.tenant_id, Message.kind,
                   Message.tags, Message.meta)
            .join(Message, Message.id == Recipient.message_id)
            .where(Recipient.id.in_(chunk))
        ).all()
        record_events(session, [EventDraft(row.tenant_id, EventType(event_type), message_event_data(row, **data),
                                           row.message_id) for row in rows])


def record_finished_broadcasts(session: Session, message_ids: Sequence[uuid.UUID]) -> None:
    """`broadcast.finished` once for each broadcast among ``message_ids`` whose roll-up is now final.

    Call after the roll-up's UPDATE, in its transaction: the roll-up locks the message rows first, so
    two concurrent roll-ups cannot both see "no event yet".
    """
    finished = session.execute(
        select(Message.id, Message.tenant_id, Message.status, Message.tags, Message.meta)
        .where(Message.id.in_(list(message_ids)), Message.kind == MessageKind.BROADCAST.value,
               Message.status.in_(_FINISHED))
    ).all()
    if not finished or not subscribers_of(session, {m.tenant_id for m in finished}):
        return
    already = set(session.scalars(
        select(WebhookEvent.subject_id).where(
            WebhookEvent.type == EventType.BROADCAST_FINISHED.value,
            WebhookEvent.subject_id.in_([m.id for m in finished]),
        )
    ))
    todo = [m for m in finished if m.id not in already]
    if not todo:
        return
    counts: dict[uuid.UUID, dict[str, int]] = {m.id: {"total": 0} for m in todo}
    for message_id, status, n in session.execute(
        select(Recipient.message_id, Recipient.status, func.count())
        .where(Recipient.message_id.in_([m.id for m in todo]))
        .group_by(Recipient.message_id, Recipient.status)
    ):
        counts[message_id][status] = n
        counts[message_id]["total"] += n
    record_events(session, [
        EventDraft(m.tenant_id, EventType.BROADCAST_FINISHED,
                   {"message_id": str(m.id), "status": m.status, "counts": counts[m.id],
                    "tags": list(m.tags or []), "metadata": dict(m.meta or {})}, m.id)
        for m in todo
    ])
