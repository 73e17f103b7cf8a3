"""Webhook endpoint rules (admin): create, change, delete, rotate the secret, test, replay a delivery.

Each function owns its commit and writes an audit event (never with a secret in it).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import Select, delete, func, select, update

from mailer.audit import record_audit
from mailer.config import Config
from mailer.errors import NotFoundError, ValidationError
from mailer.extensions import atomic, db
from mailer.models.webhook import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent
from mailer.security.scope import get_owned, tenant_select
from mailer.security.sealed import seal_value
from mailer.security.types import Principal
from mailer.webhooks.emitting import forget_unsubscribed
from mailer.webhooks.events import EventDraft, EventType, record_events
from mailer.webhooks.guard import UnsafeUrlError, check_url
from mailer.webhooks.signing import new_secret
from mailer.webhooks.wakeup import nudge_after_commit

ROTATION_OVERLAP = timedelta(hours=24)
MAX_ENDPOINTS = 20  # per tenant: every event fans out to each subscribing endpoint


def _config() -> Config:
    return current_app.config["MAILER"]


def _checked_url(url: str) -> str:
    url = url.strip()
    try:
        check_url(url, _config())
    except UnsafeUrlError as exc:
        raise ValidationError("The webhook URL is refused.", errors=[{"field": "url", "message": str(exc)}]) from None
    return url


def _audit(principal: Principal, action: str, endpoint: WebhookEndpoint, **details: Any) -> None:
    record_audit(action, tenant_id=principal.tenant_id, actor_id=principal.id, actor_type=principal.kind,
                 details={"webhook_id": str(endpoint.id), **details})


def create_endpoint(principal: Principal, url: str, events: list[str], description: str | None
                    ) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its secret (the only time the plaintext leaves the service)."""
    count = db.session.scalar(select(func.count()).select_from(tenant_select(WebhookEndpoint).subquery())) or 0
    if count >= MAX_ENDPOINTS:
        raise ValidationError(f"A tenant has at most {MAX_ENDPOINTS} webhook endpoints.",
                              errors=[{"field": "url", "message": f"at most {MAX_ENDPOINTS} endpoints per tenant"}])
    secret = new_secret()
    endpoint_id = uuid.uuid4()
    endpoint = WebhookEndpoint(
        id=endpoint_id, tenant_id=principal.tenant_id, url=_checked_url(url), events=sorted(set(events)),
        description=description, enabled=True,
        secret_sealed=seal_value(_config(), WebhookEndpoint.secret_sealed, endpoint_id, secret),
    )
    db.session.add(endpoint)
    db.session.flush()
    with atomic():
        _audit(principal, "webhook.created", endpoint, events=endpoint.events)
    forget_unsubscribed(endpoint.tenant_id)
    return endpoint, secret


def update_endpoint(principal: Principal, endpoint_id: str, changes: dict[str, Any]) -> WebhookEndpoint:
    endpoint = get_owned(WebhookEndpoint, endpoint_id)
    for name in ("url", "events", "enabled"):
        if name in changes and changes[name] is None:
            raise ValidationError(errors=[{"field": name, "message": "cannot be null"}])
    if "url" in changes:
        endpoint.url = _checked_url(changes["url"])
    if "events" in changes:
        endpoint.events = sorted(set(changes["events"]))
    if "description" in changes:
        endpoint.description = changes["description"]
    if "enabled" in changes:
        endpoint.enabled = changes["enabled"]
        if endpoint.enabled:  # switched back on: no leftover reason, no leftover backoff
            endpoint.disabled_reason, endpoint.failure_streak, endpoint.blocked_until = None, 0, None
    with atomic():
        _audit(principal, "webhook.changed", endpoint, fields=sorted(changes))
    if endpoint.enabled:
        forget_unsubscribed(endpoint.tenant_id)
    return endpoint


def delete_endpoint(principal: Principal, endpoint_id: str) -> None:
    """The endpoint, its deliveries and their attempt logs (events of other endpoints stay)."""
    endpoint = get_owned(WebhookEndpoint, endpoint_id)
    deliveries = select(WebhookDelivery.id).where(WebhookDelivery.endpoint_id == endpoint.id)
    db.session.execute(delete(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(deliveries)))
    db.session.execute(delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id))
    with atomic():
        _audit(principal, "webhook.deleted", endpoint)
        db.session.delete(endpoint)


def rotate_secret(principal: Principal, endpoint_id: str, *, expire_previous: bool = False
                  ) -> tuple[WebhookEndpoint, str]:
    """A new secret; the one it replaces keeps signing (beside it) for ROTATION_OVERLAP, or, with
    ``expire_previous`` (a leaked secret), is forgotten at once, with any older one still in its overlap."""
    endpoint = get_owned(WebhookEndpoint, endpoint_id)
    secret = new_secret()
    if expire_previous:
        endpoint.previous_secret_sealed, endpoint.previous_secret_expires_at = None, None
    else:
        endpoint.previous_secret_sealed = endpoint.secret_sealed
        endpoint.previous_secret_expires_at = datetime.now(UTC) + ROTATION_OVERLAP
    endpoint.secret_sealed = seal_value(_config(), WebhookEndpoint.secret_sealed, endpoint.id, secret)
    with atomic():
        _audit(principal, "webhook.secret_rotated", endpoint, expire_previous=expire_previous)
    return endpoint, secret


def send_test(principal: Principal, endpoint_id: str) -> tuple[uuid.UUID, uuid.UUID]:
    """A `webhook.test` event for this endpoint alone (whatever its filter); (event id, delivery id)."""
    endpoint = get_owned(WebhookEndpoint, endpoint_id)
    draft = EventDraft(principal.tenant_id, EventType.WEBHOOK_TEST,
                       {"webhook_id": str(endpoint.id), "message": "This is a test event from Mailer."})
    with atomic():
        [event_id] = record_events(db.session, [draft], endpoints=[endpoint])
        assert event_id is not None
        delivery_id = db.session.scalar(select(WebhookDelivery.id).where(WebhookDelivery.event_id == event_id))
    return event_id, delivery_id


def deliveries_of(endpoint: WebhookEndpoint) -> Select[tuple[WebhookDelivery, str]]:
    """(delivery, its event's type) of one endpoint, this tenant's only; the caller orders and pages."""
    return (select(WebhookDelivery, WebhookEvent.type)
            .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
            .where(WebhookDelivery.endpoint_id == endpoint.id, WebhookDelivery.tenant_id == endpoint.tenant_id))


def owned_delivery(endpoint_id: str, delivery_id: str) -> WebhookDelivery:
    endpoint = get_owned(WebhookEndpoint, endpoint_id)
    try:
        key = uuid.UUID(delivery_id)
    except ValueError:
        raise NotFoundError() from None
    delivery = db.session.scalars(
        select(WebhookDelivery).where(WebhookDelivery.id == key, WebhookDelivery.endpoint_id == endpoint.id,
                                      WebhookDelivery.tenant_id == endpoint.tenant_id)
    ).first()
    if delivery is None:
        raise NotFoundError()
    return delivery


def replay_delivery(principal: Principal, endpoint_id: str, delivery_id: str) -> WebhookDelivery:
    """Send it again now, with a fresh retry schedule (its attempt log keeps the earlier attempts)."""
    delivery = owned_delivery(endpoint_id, delivery_id)
    now = datetime.now(UTC)
    delivery.status = DeliveryStatus.PENDING
    delivery.replayed_after = delivery.attempts
    delivery.next_attempt_at, delivery.finished_at = now, None
    # An explicit replay is a probe: the endpoint's backoff does not hold it back.
    db.session.execute(update(WebhookEndpoint).where(WebhookEndpoint.id == delivery.endpoint_id)
                       .values(blocked_until=None).execution_options(synchronize_session=False))
    with atomic():
        record_audit("webhook.delivery_replayed", tenant_id=principal.tenant_id, actor_id=principal.id,
                     actor_type=principal.kind, details={"webhook_id": endpoint_id, "delivery_id": str(delivery.id)})
        nudge_after_commit()
    return delivery
