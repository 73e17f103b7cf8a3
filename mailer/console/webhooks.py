"""/console/webhooks: endpoints, their deliveries and attempts — the rules of /v1/webhooks (webhooks.service)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from flask import g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from mailer.console import guard
from mailer.console.admin_common import page_of, problems
from mailer.console.forms import FormErrors, parse_form
from mailer.console.routes import bp
from mailer.errors import ValidationError
from mailer.extensions import db
from mailer.models.webhook import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from mailer.security.scope import get_owned, tenant_select
from mailer.webhooks import (
    service,
    wakeup,  # noqa: F401 - installs the after-commit nudge, as the API's routes do
)
from mailer.webhooks.events import EventType
from mailer.webhooks.schemas import WebhookCreate, WebhookPatch

DONE = {
    "changed": _l("The endpoint is saved."),
    "enabled": _l("The endpoint is on: new events are delivered to it."),
    "disabled": _l("The endpoint is off: no event is delivered to it until you turn it on."),
    "tested": _l("A webhook.test event is on its way; its delivery appears below."),
    "replayed": _l("The delivery is sent again now."),
    "deleted": _l("The endpoint and its deliveries are deleted."),
}
DESCRIPTION_HINT = _l("Use at most 500 characters.")


def _form() -> dict[str, Any]:
    """The endpoint form as a JSON body: events are checkboxes, so a list."""
    return {"url": request.form.get("url", ""), "events": request.form.getlist("events"),
            "description": request.form.get("description", "")}


def _list(status: int = 200, **context: Any) -> tuple[str, int]:
    endpoints, page, more = page_of(tenant_select(WebhookEndpoint).order_by(WebhookEndpoint.created_at,
                                                                            WebhookEndpoint.id))
    context.setdefault("errors", {})
    context.setdefault("form", {"events": []})
    if (done := request.args.get("done")) in DONE:
        context.setdefault("done", str(DONE[done]))
    return render_template("console/webhooks.html", endpoints=endpoints, page=page, more=more,
                           event_types=list(EventType), **context), status


def _detail(endpoint_id: str, status: int = 200, **context: Any) -> tuple[str, int]:
    endpoint = get_owned(WebhookEndpoint, endpoint_id)  # another tenant's: NotFoundError, the 404 page
    rows, page, more = page_of(service.deliveries_of(endpoint)
                               .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id), rows=True)
    attempts: dict[Any, list[WebhookAttempt]] = defaultdict(list)
    if rows:
        for attempt in db.session.scalars(select(WebhookAttempt).where(
                WebhookAttempt.delivery_id.in_([delivery.id for delivery, _ in rows]),
                WebhookAttempt.tenant_id == endpoint.tenant_id).order_by(WebhookAttempt.at)):
            attempts[attempt.delivery_id].append(attempt)
    context.setdefault("errors", {})
    if (done := request.args.get("done")) in DONE:
        context.setdefault("done", str(DONE[done]))
    return render_template("console/webhook.html", endpoint=endpoint, deliveries=rows, attempts=attempts,
                           status_labels={"pending": _("Pending"), "succeeded": _("Succeeded"),
                                          "failed": _("Failed")},
                           page=page, more=more, event_types=list(EventType),
                           form=context.pop("form", None) or {"url": endpoint.url, "events": endpoint.events,
                                                              "description": endpoint.description or ""},
                           **context), status


@bp.get("/webhooks")
@guard.admin_only
def webhooks() -> Any:
    return _list()


@bp.post("/webhooks")
@guard.admin_only
def webhooks_create() -> Any:
    form = _form()
    try:
        body = parse_form(WebhookCreate, ("url", "events", "description"), source=form)
        endpoint, secret = service.create_endpoint(g.principal, body.url, list(body.events), body.description)
    except (FormErrors, ValidationError) as exc:
        return _list(422, errors=problems(exc, description=DESCRIPTION_HINT), form=form)
    # The only time the secret is shown (no-store, like every console page); the audit record never holds it.
    return _detail(str(endpoint.id), 201, secret=secret)


@bp.get("/webhooks/<endpoint_id>")
@guard.admin_only
def webhooks_one(endpoint_id: str) -> Any:
    return _detail(endpoint_id)


@bp.post("/webhooks/<endpoint_id>")
@guard.admin_only
def webhooks_update(endpoint_id: str) -> Any:
    form = _form()
    try:
        body = parse_form(WebhookPatch, ("url", "events", "description"), source=form)
        changes = body.model_dump(exclude_unset=True)
        changes.setdefault("description", None)  # an emptied description is removed
        service.update_endpoint(g.principal, endpoint_id, changes)
    except (FormErrors, ValidationError) as exc:
        db.session.rollback()
        return _detail(endpoint_id, 422, errors=problems(exc, description=DESCRIPTION_HINT), form=form)
    return redirect(url_for("console.webhooks_one", endpoint_id=endpoint_id, done="changed"), 303)


@bp.post("/webhooks/<endpoint_id>/enabled")
@guard.admin_only
def webhooks_enabled(endpoint_id: str) -> Any:
    enabled = request.form.get("enabled") == "true"
    service.update_endpoint(g.principal, endpoint_id, {"enabled": enabled})
    return redirect(url_for("console.webhooks_one", endpoint_id=endpoint_id,
                            done="enabled" if enabled else "disabled"), 303)


@bp.post("/webhooks/<endpoint_id>/rotate-secret")
@guard.admin_only
def webhooks_rotate(endpoint_id: str) -> Any:
    _, secret = service.rotate_secret(g.principal, endpoint_id)  # the old secret also signs for 24 h
    return _detail(endpoint_id, secret=secret, rotated=True)


@bp.post("/webhooks/<endpoint_id>/test")
@guard.admin_only
def webhooks_test(endpoint_id: str) -> Any:
    service.send_test(g.principal, endpoint_id)
    return redirect(url_for("console.webhooks_one", endpoint_id=endpoint_id, done="tested"), 303)


@bp.post("/webhooks/<endpoint_id>/delete")
@guard.admin_only
def webhooks_delete(endpoint_id: str) -> Any:
    service.delete_endpoint(g.principal, endpoint_id)
    return redirect(url_for("console.webhooks", done="deleted"), 303)


@bp.post("/webhooks/<endpoint_id>/deliveries/<delivery_id>/replay")
@guard.admin_only
def webhooks_replay(endpoint_id: str, delivery_id: str) -> Any:
    service.replay_delivery(g.principal, endpoint_id, delivery_id)
    return redirect(url_for("console.webhooks_one", endpoint_id=endpoint_id, done="replayed"), 303)
