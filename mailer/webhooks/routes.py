"""/v1/webhooks (admin): parse → service → serialise."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request
from sqlalchemy import func, select

from mailer.extensions import db
from mailer.http.json import iso, parse_body, parse_query
from mailer.http.pagination import Page, PageQuery, page_args, paginate
from mailer.models import Role
from mailer.models.webhook import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent
from mailer.openapi.registry import documented
from mailer.security.principal import current_principal, require_role
from mailer.security.scope import get_owned, tenant_select
from mailer.webhooks import (
    service,
    wakeup,  # noqa: F401 - installs the after-commit nudge
)
from mailer.webhooks.schemas import (
    DeliveryDetail,
    DeliveryOut,
    DeliveryQuery,
    RotateSecret,
    TestAccepted,
    WebhookCreate,
    WebhookOut,
    WebhookPatch,
    WebhookWithSecret,
)

bp = Blueprint("webhooks", __name__, url_prefix="/v1")
_NO_STORE = {"Cache-Control": "no-store"}


def endpoint_json(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return {"id": str(endpoint.id), "url": endpoint.url, "events": list(endpoint.events), "enabled": endpoint.enabled,
            "description": endpoint.description, "disabled_reason": endpoint.disabled_reason,
            "created_at": iso(endpoint.created_at)}


def delivery_json(row: Any) -> dict[str, Any]:
    delivery, event_type = row
    return {"id": str(delivery.id), "event_id": str(delivery.event_id), "event_type": event_type,
            "attempts": delivery.attempts, "status": delivery.status, "last_status_code": delivery.last_status_code,
            "last_error": delivery.last_error, "next_attempt_at": iso(delivery.next_attempt_at),
            "created_at": iso(delivery.created_at)}


@bp.post("/webhooks")
@documented("Subscribe an endpoint to events; its signing secret is shown once", body=WebhookCreate,
            response=WebhookWithSecret, status=201, tags=("webhooks",))
@require_role(Role.ADMIN)
def create_webhook() -> Any:
    body = parse_body(WebhookCreate)
    endpoint, secret = service.create_endpoint(current_principal(), body.url, list(body.events), body.description)
    return {**endpoint_json(endpoint), "secret": secret}, 201, _NO_STORE


@bp.get("/webhooks")
@documented("The tenant's webhook endpoints (no secrets)", query=PageQuery, response=Page[WebhookOut],
            tags=("webhooks",))
@require_role(Role.ADMIN)
def list_webhooks() -> Any:
    parse_query(PageQuery)
    return paginate(tenant_select(WebhookEndpoint).order_by(WebhookEndpoint.created_at, WebhookEndpoint.id),
                    endpoint_json)


@bp.get("/webhooks/<webhook_id>")
@documented("One webhook endpoint", response=WebhookOut, tags=("webhooks",))
@require_role(Role.ADMIN)
def get_webhook(webhook_id: str) -> Any:
    return endpoint_json(get_owned(WebhookEndpoint, webhook_id))


@bp.patch("/webhooks/<webhook_id>")
@documented("Change an endpoint's URL, events, description, or switch it on or off", body=WebhookPatch,
            response=WebhookOut, tags=("webhooks",))
@require_role(Role.ADMIN)
def patch_webhook(webhook_id: str) -> Any:
    body = parse_body(WebhookPatch)
    return endpoint_json(service.update_endpoint(current_principal(), webhook_id, body.model_dump(exclude_unset=True)))


@bp.delete("/webhooks/<webhook_id>")
@documented("Delete an endpoint and its delivery log", status=204, tags=("webhooks",))
@require_role(Role.ADMIN)
def delete_webhook(webhook_id: str) -> Any:
    service.delete_endpoint(current_principal(), webhook_id)
    return "", 204


@bp.post("/webhooks/<webhook_id>/rotate-secret")
@documented("A new signing secret, shown once; the old one also signs for 24 hours, unless expire_previous",
            body=RotateSecret, response=WebhookWithSecret, tags=("webhooks",))
@require_role(Role.ADMIN)
def rotate_webhook_secret(webhook_id: str) -> Any:
    body = parse_body(RotateSecret) if request.get_data() else RotateSecret()
    endpoint, secret = service.rotate_secret(current_principal(), webhook_id, expire_previous=body.expire_previous)
    return {**endpoint_json(endpoint), "secret": secret}, 200, _NO_STORE


@bp.post("/webhooks/<webhook_id>/test")
@documented("Send a webhook.test event to this endpoint", response=TestAccepted, status=202, tags=("webhooks",))
@require_role(Role.ADMIN)
def test_webhook(webhook_id: str) -> Any:
    event_id, delivery_id = service.send_test(current_principal(), webhook_id)
    return {"event_id": str(event_id), "delivery_id": str(delivery_id)}, 202


@bp.get("/webhooks/<webhook_id>/deliveries")
@documented("The endpoint's deliveries, newest first", query=DeliveryQuery, response=Page[DeliveryOut],
            tags=("webhooks",))
@require_role(Role.ADMIN)
def list_deliveries(webhook_id: str) -> Any:
    filters = parse_query(DeliveryQuery)
    query = service.deliveries_of(get_owned(WebhookEndpoint, webhook_id))
    if filters.status is not None:
        query = query.where(WebhookDelivery.status == filters.status)
    return _paginate_rows(query.order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id))


def _paginate_rows(query: Any) -> dict[str, Any]:
    # paginate() reads scalars; a delivery comes with its event's type, so page the rows here.


    page, per_page = page_args()
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    rows = db.session.execute(query.limit(per_page).offset((page - 1) * per_page)).all()
    return {"items": [delivery_json(row) for row in rows], "page": page, "per_page": per_page, "total": total}


@bp.get("/webhooks/<webhook_id>/deliveries/<delivery_id>")
@documented("One delivery with its attempt log (status code, latency, error of every POST)",
            response=DeliveryDetail, tags=("webhooks",))
@require_role(Role.ADMIN)
def get_delivery(webhook_id: str, delivery_id: str) -> Any:
    delivery = service.owned_delivery(webhook_id, delivery_id)
    event_type = db.session.scalar(select(WebhookEvent.type).where(WebhookEvent.id == delivery.event_id))
    attempts = db.session.scalars(
        select(WebhookAttempt).where(WebhookAttempt.delivery_id == delivery.id).order_by(WebhookAttempt.at)
    ).all()
    return {**delivery_json((delivery, event_type)),
            "attempt_log": [{"at": iso(a.at), "status_code": a.status_code, "latency_ms": a.latency_ms,
                             "error": a.error} for a in attempts]}


@bp.post("/webhooks/<webhook_id>/deliveries/<delivery_id>/retry")
@documented("Replay a delivery now", response=DeliveryOut, status=202, tags=("webhooks",))
@require_role(Role.ADMIN)
def retry_delivery(webhook_id: str, delivery_id: str) -> Any:
    delivery = service.replay_delivery(current_principal(), webhook_id, delivery_id)
    event_type = db.session.scalar(select(WebhookEvent.type).where(WebhookEvent.id == delivery.event_id))
    return delivery_json((delivery, event_type)), 202
