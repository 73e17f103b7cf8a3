"""/v1/suppressions (admin) and the one-click unsubscribe page /unsubscribe/<token> (API.md §8)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, render_template, request

from mailer.extensions import atomic, db
from mailer.feedback import service
from mailer.feedback.schemas import (
    SuppressionCreate,
    SuppressionDeleteQuery,
    SuppressionEntries,
    SuppressionListQuery,
    SuppressionOut,
)
from mailer.feedback.unsubscribe import UnknownUnsubscribeTokenError, broadcast_recipient, unsubscribe
from mailer.http.json import iso, parse_body, parse_query
from mailer.http.pagination import Page, paginate
from mailer.models import Role, Suppression, Tenant
from mailer.openapi.registry import documented
from mailer.pages.branding import page_context, page_policy
from mailer.security.principal import current_principal, require_role

bp = Blueprint("feedback", __name__)


def suppression_json(entry: Suppression) -> dict[str, Any]:
    return {
        "email": entry.email, "scope": entry.scope, "reason": entry.reason,
        "source_message_id": str(entry.source_message_id) if entry.source_message_id else None,
        "enhanced_code": entry.enhanced_code, "detail": entry.detail, "created_at": iso(entry.created_at),
    }


@bp.get("/v1/suppressions")
@documented("The tenant's suppressed addresses", query=SuppressionListQuery, response=Page[SuppressionOut])
@require_role(Role.ADMIN)
def list_suppressions() -> Any:
    return paginate(service.listed(parse_query(SuppressionListQuery)), suppression_json)


@bp.post("/v1/suppressions")
@documented("Suppress an address (reason manual); an existing entry of that scope is returned as is",
            body=SuppressionCreate, response=SuppressionOut, status=201)
@require_role(Role.ADMIN)
def create_suppression() -> Any:
    body = parse_body(SuppressionCreate)
    return suppression_json(service.create_manual(current_principal(), body.email, body.scope)), 201


@bp.get("/v1/suppressions/<email>")
@documented("An address's suppression entries, one per scope", response=SuppressionEntries)
@require_role(Role.ADMIN)
def get_suppression(email: str) -> Any:
    return {"items": [suppression_json(e) for e in service.entries_for(current_principal(), email)]}


@bp.delete("/v1/suppressions/<email>")
@documented("Stop suppressing an address (one scope, or every scope)", query=SuppressionDeleteQuery, status=204)
@require_role(Role.ADMIN)
def delete_suppression(email: str) -> Any:
    query = parse_query(SuppressionDeleteQuery)
    service.delete_entries(current_principal(), email, query.scope)
    return "", 204


def _page(tenant: Tenant | None, status: int = 200, **context: Any) -> Response:
    """The unsubscribe page in the tenant's branding and the reader's language (API.md §14)."""
    page = page_context(tenant)
    response = Response(render_template("pages/unsubscribe.html", **page, **context), status=status,
                        mimetype="text/html")
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = page_policy()
    return response


@bp.get("/unsubscribe/<token>")
def unsubscribe_page(token: str) -> Response:
    """Shows a button; a GET alone changes nothing (link scanners follow GETs)."""
    try:
        recipient = broadcast_recipient(current_app.config["MAILER"], token)
    except UnknownUnsubscribeTokenError:
        return _page(None, 404, state="invalid")
    tenant = db.session.get(Tenant, recipient.tenant_id)
    return _page(tenant, state="confirm", token=token, tenant_name=tenant.name if tenant else "")


@bp.post("/unsubscribe/<token>")
def unsubscribe_post(token: str) -> Response:
    """RFC 8058 one-click (form body ``List-Unsubscribe=One-Click``) or the page's button: suppress for broadcasts."""
    try:
        recipient = broadcast_recipient(current_app.config["MAILER"], token)
    except UnknownUnsubscribeTokenError:
        return _page(None, 404, state="invalid")
    tenant = db.session.get(Tenant, recipient.tenant_id)
    with atomic():
        unsubscribe(recipient, via="one-click" if request.form.get("List-Unsubscribe") == "One-Click" else "page")
    return _page(tenant, state="done", tenant_name=tenant.name if tenant else "")
