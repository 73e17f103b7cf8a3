"""/console/audit: the tenant's audit log (GET /v1/audit-events), filtered by action, and its chain check."""

from __future__ import annotations

from typing import Any

from flask import g, render_template, request
from flask_babel import gettext as _

from mailer.admin.responses import AuditEventQuery
from mailer.audit import verify_chain
from mailer.console import guard
from mailer.console.admin_common import page_of, problems
from mailer.console.forms import FormErrors, parse_form
from mailer.console.routes import bp
from mailer.extensions import db
from mailer.models import AuditEvent, Tenant
from mailer.security.scope import tenant_select

ACTIONS = (
    "login.succeeded", "login.failed", "password.reset_requested", "password.reset", "password.changed",
    "email.verified", "user.registered", "user.changed", "refresh_token.reused", "message.created",
    "message.retried", "broadcast.created", "template.changed", "api_key.created", "api_key.revoked",
    "tenant.changed", "tenant_relay.changed", "tenant_relay.deleted", "domain.created", "domain.status_changed",
    "domain.dkim_rotated", "domain.deleted", "webhook.created", "webhook.changed", "webhook.deleted",
    "webhook.secret_rotated", "webhook.delivery_replayed", "suppression.created", "suppression.deleted",
    "data.erased",
)


def _page(status: int = 200, **context: Any) -> tuple[str, int]:
    action = request.args.get("action", "")
    try:
        filters = parse_form(AuditEventQuery, ("action",), source=request.args)
    except FormErrors as exc:
        context["errors"] = problems(exc, action=_("Enter an action such as login.failed."))
        filters = AuditEventQuery()
    query = tenant_select(AuditEvent)
    if filters.action:
        query = query.where(AuditEvent.action == filters.action)
    events, page, more = page_of(query.order_by(AuditEvent.seq.desc()))
    context.setdefault("errors", {})
    return render_template("console/audit.html", events=events, page=page, more=more, action=action,
                           actions=ACTIONS, **context), status


@bp.get("/audit")
@guard.admin_only
def audit() -> Any:
    return _page()


@bp.post("/audit/verify")
@guard.admin_only
def audit_verify() -> Any:
    """The chain check of `flask tenants verify-audit`: every event linked to the one before, every hash right."""
    checked, broken = verify_chain(db.session.get(Tenant, g.principal.tenant_id))
    return _page(verified={"checked": checked, "broken": broken})
