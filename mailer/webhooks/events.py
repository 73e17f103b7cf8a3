"""Webhook events as rows (a transactional outbox, API.md §9): the list of event types, and the writer behind
``webhooks.emit``.

``record_events(session, drafts)`` adds each event and one pending delivery per enabled endpoint of its
tenant that subscribes to it, in the caller's ``extensions.atomic()`` block: the event exists
exactly when the change it reports is committed. After that commit the dispatcher is nudged (see
``wakeup.nudge_after_commit``); if the nudge is lost (Redis down or flushed, a worker killed), the sweep finds
the due deliveries. Nothing here imports Flask request state: the pipeline and workers call it.
A tenant with no subscribing endpoint costs one query and gets no rows.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from mailer.models.webhook import DeliveryStatus, WebhookDelivery, WebhookEndpoint, WebhookEvent
from mailer.webhooks.wakeup import nudge_after_commit


class EventType(StrEnum):
    MESSAGE_SENT = "message.sent"
    MESSAGE_DEFERRED = "message.deferred"
    MESSAGE_FAILED = "message.failed"
    MESSAGE_BOUNCED = "message.bounced"
    MESSAGE_COMPLAINED = "message.complained"
    MESSAGE_SUPPRESSED = "message.suppressed"
    SUPPRESSION_CREATED = "suppression.created"
    BROADCAST_FINISHED = "broadcast.finished"
    WEBHOOK_TEST = "webhook.test"


@dataclass(frozen=True)
class EventDraft:
    tenant_id: uuid.UUID
    type: EventType
    data: dict[str, Any]
    subject_id: uuid.UUID | None = None


def utc_text(at: datetime) -> str:
    """ISO 8601 UTC with a Z (API.md §1)."""
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def event_body(event_type: str, at: datetime, data: dict[str, Any]) -> str:
    """What one POST carries: `{"type", "timestamp", "data"}` (API.md §9), compact JSON."""
    return json.dumps({"type": event_type, "timestamp": utc_text(at), "data": data}, separators=(",", ":"),
                      ensure_ascii=False)


def record_events(session: Session, drafts: Sequence[EventDraft],
                  endpoints: Iterable[WebhookEndpoint] | None = None) -> list[uuid.UUID | None]:
    """Each draft's event and deliveries in a few statements (one endpoint query, two bulk inserts); the event
    ids, None where no endpoint subscribes (then nothing is written for it).

    ``endpoints`` restricts the fan-out to those endpoints (the test event); by default every enabled
    endpoint of each draft's tenant that lists the event type.
    """
    if not drafts:
        return []
    if endpoints is None:
        subscribers = subscribers_of(session, {d.tenant_id for d in drafts})
    else:
        subscribers = defaultdict(list)
        for endpoint in endpoints:
            subscribers[endpoint.tenant_id].append((endpoint.id, set(EventType)))
    now = datetime.now(UTC)
    events: list[dict[str, Any]] = []
    deliveries: list[dict[str, Any]] = []
    ids: list[uuid.UUID | None] = []
    for draft in drafts:
        targets = [eid for eid, wanted in subscribers.get(draft.tenant_id, ()) if draft.type in wanted]
        if not targets:
            ids.append(None)
            continue
        event_id = uuid.uuid4()
        ids.append(event_id)
        events.append({"id": event_id, "tenant_id": draft.tenant_id, "type": draft.type,
                       "subject_id": draft.subject_id, "data": draft.data, "created_at": now})
        deliveries.extend(
            {"id": uuid.uuid4(), "tenant_id": draft.tenant_id, "endpoint_id": endpoint_id, "event_id": event_id,
             "status": DeliveryStatus.PENDING, "attempts": 0, "replayed_after": 0, "next_attempt_at": now,
             "created_at": now}
            for endpoint_id in targets
        )
    if events:
        session.execute(insert(WebhookEvent), events)
        session.execute(insert(WebhookDelivery), deliveries)
        nudge_after_commit()
    return ids


def subscribers_of(session: Session, tenant_ids: set[uuid.UUID]) -> dict[uuid.UUID, list[tuple[uuid.UUID, set[str]]]]:
    """Each tenant's enabled endpoints and the event types they want."""
    found: dict[uuid.UUID, list[tuple[uuid.UUID, set[str]]]] = defaultdict(list)
    if not tenant_ids:
        return found
    rows = session.execute(
        select(WebhookEndpoint.tenant_id, WebhookEndpoint.id, WebhookEndpoint.events)
        .where(WebhookEndpoint.tenant_id.in_(sorted(tenant_ids)), WebhookEndpoint.enabled.is_(True))
    )
    for tenant_id, endpoint_id, wanted in rows:
        found[tenant_id].append((endpoint_id, set(wanted)))
    return found
