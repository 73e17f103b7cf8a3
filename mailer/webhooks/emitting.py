"""The one way to raise a webhook event (API.md §9): ``emit(session, EventType.X, subjects, **data)``.

Every emitter (the pipeline's recorded results and roll-up, feedback's findings, suppressions) calls it in
the transaction of the change it reports, and it never commits: the events exist exactly when the change
is committed. What a subject is depends on the event's family:

- ``message.*``: recipients, as ids or as (id, data) pairs when each recipient has data of its own (a
  report's codes, an attempt's result); the data is the recipient as it is now in ``session``;
- ``suppression.created``: suppression entries (as `GET /v1/suppressions` shows them, API.md §8);
- ``broadcast.finished``: message ids; only broadcasts whose roll-up is final, and only once each.

``data`` adds or overrides fields of every event's data. A batch costs a few statements, not a few per
subject; when no enabled endpoint of the tenants subscribes, a message event costs one query.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

from sqlalchemy import ColumnElement, bindparam, exists, func, select
from sqlalchemy.orm import Session

from mailer.models import MESSAGE_FINISHED, Message, MessageKind, Recipient
from mailer.models.webhook import WebhookEndpoint, WebhookEvent
from mailer.webhooks.events import EventDraft, EventType, record_events, subscribers_of, utc_text

_CHUNK = 1000  # recipient ids per IN (...)
_REMEMBERED = 4096  # tenants remembered without an endpoint (emptied when full: a miss is one query)

# The per-result statements, built once (building one and its cache key per recorded result was a tenth of a
# delivery loop's CPU when mail comes one message at a time); ``ids`` recipient ids.
_IDS = bindparam("ids", expanding=True, type_=Recipient.id.type)
_ANYONE_SUBSCRIBES = select(WebhookEndpoint.id).where(
    WebhookEndpoint.tenant_id.in_(select(Recipient.tenant_id).where(Recipient.id.in_(_IDS))),
    WebhookEndpoint.enabled.is_(True)).limit(1)
_MESSAGE_ROWS = (
    select(Recipient.id, Recipient.tenant_id, Recipient.email, Recipient.message_id, Recipient.status,
           Recipient.smtp_code, Recipient.enhanced_code, Recipient.smtp_response, Message.kind, Message.tags,
           Message.meta)
    .join(Message, Message.id == Recipient.message_id)
    .where(Recipient.id.in_(_IDS))
)

# A tenant read with no enabled endpoint is taken as still having none for this long by the process that read it
# (a broadcast records several windows of results a second, each asking again otherwise). An endpoint created or
# enabled in another process gets the events of results recorded from at most this long after; in this process,
# from at once (forget_unsubscribed).
NO_SUBSCRIBER_SECONDS = 1.0
_TENANT_SUBSCRIBES = select(WebhookEndpoint.id).where(
    WebhookEndpoint.tenant_id.in_(bindparam("tenants", expanding=True, type_=WebhookEndpoint.tenant_id.type)),
    WebhookEndpoint.enabled.is_(True)).limit(1)
_unsubscribed: dict[uuid.UUID, float] = {}  # tenant id -> when (time.monotonic) it was read with no endpoint

Drafter = Callable[[Session, EventType, Sequence[Any], Mapping[str, Any]], list[EventDraft]]


def subscribes_column(tenant_id: ColumnElement[uuid.UUID]) -> ColumnElement[bool]:
    """Whether the tenant ``tenant_id`` has an enabled endpoint: for a caller to read it with its own statement
    and pass ``subscribed`` to emit (one round trip fewer)."""
    return exists().where(WebhookEndpoint.tenant_id == tenant_id, WebhookEndpoint.enabled.is_(True))


def subscribed_among(session: Session, tenant_ids: set[uuid.UUID]) -> bool:
    """For emit's ``subscribed``: False when none of these tenants has an enabled endpoint (read within the last
    NO_SUBSCRIBER_SECONDS, else now, in ``session``), else True."""
    now = time.monotonic()
    if all(now - _unsubscribed.get(tenant_id, -NO_SUBSCRIBER_SECONDS) < NO_SUBSCRIBER_SECONDS
           for tenant_id in tenant_ids):
        return False
    if session.scalar(_TENANT_SUBSCRIBES, {"tenants": sorted(tenant_ids)}) is not None:
        return True
    if len(_unsubscribed) >= _REMEMBERED:
        _unsubscribed.clear()
    _unsubscribed.update(dict.fromkeys(tenant_ids, now))
    return False


def forget_unsubscribed(tenant_id: uuid.UUID) -> None:
    """The tenant has an enabled endpoint now: this process reads it again at its next events."""
    _unsubscribed.pop(tenant_id, None)


def emit(session: Session, event_type: EventType, subjects: Sequence[Any], *, subscribed: bool | None = None,
         **data: Any) -> None:
    """Record ``event_type`` about each of ``subjects`` in ``session`` (see the module docstring).

    ``subscribed`` false: the caller read (subscribes_column, subscribed_among) that no tenant of these
    ``message.*`` subjects has an enabled endpoint, so there is nothing to record; true: that one has, so the
    events are drafted without asking again.
    """
    if subjects and subscribed is not False:
        drafter = _DRAFTERS.get(event_type) or partial(_message_drafts, asked=subscribed is True)
        record_events(session, drafter(session, event_type, subjects, data))


def _message_data(row: Any, **overrides: Any) -> dict[str, Any]:
    """`data` of a message event (API.md §9) from a recipient row joined with its message."""
    data = {
        "message_id": str(row.message_id), "recipient_id": str(row.id), "email": row.email,
        "status": row.status, "kind": row.kind, "tags": list(row.tags or []), "metadata": dict(row.meta or {}),
        "smtp_code": row.smtp_code, "enhanced_code": row.enhanced_code, "response": row.smtp_response,
    }
    data.update(overrides)
    return data


def _message_drafts(session: Session, event_type: EventType, subjects: Sequence[Any],
                    data: Mapping[str, Any], *, asked: bool = False) -> list[EventDraft]:
    own = [(subject, {}) if isinstance(subject, uuid.UUID) else subject for subject in subjects]
    session.flush()  # the recipients' new statuses, before the data reads them
    ids = list(dict.fromkeys(recipient_id for recipient_id, _ in own))
    chunks = [ids[start:start + _CHUNK] for start in range(0, len(ids), _CHUNK)]
    if not asked and not any(_anyone_subscribes(session, chunk) for chunk in chunks):
        return []
    rows: dict[uuid.UUID, Any] = {}
    for chunk in chunks:
        rows.update((row.id, row) for row in session.execute(_MESSAGE_ROWS, {"ids": chunk}))
    return [EventDraft(rows[recipient_id].tenant_id, event_type,
                       _message_data(rows[recipient_id], **{**data, **extra}), rows[recipient_id].message_id)
            for recipient_id, extra in own if recipient_id in rows]


def _anyone_subscribes(session: Session, recipient_ids: list[uuid.UUID]) -> bool:
    """Whether any tenant of these recipients has an enabled endpoint (one query)."""
    return session.scalar(_ANYONE_SUBSCRIBES, {"ids": recipient_ids}) is not None


def _suppression_drafts(session: Session, event_type: EventType, entries: Sequence[Any],
                        data: Mapping[str, Any]) -> list[EventDraft]:
    return [
        EventDraft(entry.tenant_id, event_type, {
            "email": entry.email, "scope": entry.scope, "reason": entry.reason,
            "source_message_id": str(entry.source_message_id) if entry.source_message_id else None,
            "enhanced_code": entry.enhanced_code, "detail": entry.detail, "created_at": utc_text(entry.created_at),
            **data,
        }, entry.source_message_id)
        for entry in entries
    ]


def _broadcast_drafts(session: Session, event_type: EventType, message_ids: Sequence[Any],
                      data: Mapping[str, Any]) -> list[EventDraft]:
    """Call after the roll-up's UPDATE, in its transaction: the roll-up locks the message rows first, so two
    concurrent roll-ups cannot both see "no event yet"."""
    finished = session.execute(
        select(Message.id, Message.tenant_id, Message.status, Message.tags, Message.meta)
        .where(Message.id.in_(list(message_ids)), Message.kind == MessageKind.BROADCAST,
               Message.status.in_(MESSAGE_FINISHED))
    ).all()
    if not finished or not subscribers_of(session, {m.tenant_id for m in finished}):
        return []
    already = set(session.scalars(select(WebhookEvent.subject_id).where(
        WebhookEvent.type == event_type.value, WebhookEvent.subject_id.in_([m.id for m in finished]))))
    todo = [m for m in finished if m.id not in already]
    counts: dict[uuid.UUID, dict[str, int]] = {m.id: {"total": 0} for m in todo}
    if todo:
        for message_id, status, n in session.execute(
            select(Recipient.message_id, Recipient.status, func.count())
            .where(Recipient.message_id.in_([m.id for m in todo]))
            .group_by(Recipient.message_id, Recipient.status)
        ):
            counts[message_id][status] = n
            counts[message_id]["total"] += n
    return [EventDraft(m.tenant_id, event_type, {"message_id": str(m.id), "status": m.status, "counts": counts[m.id],
                                                 "tags": list(m.tags or []), "metadata": dict(m.meta or {}), **data},
                       m.id)
            for m in todo]


_DRAFTERS: dict[EventType, Drafter] = {
    EventType.SUPPRESSION_CREATED: _suppression_drafts,
    EventType.BROADCAST_FINISHED: _broadcast_drafts,
}
