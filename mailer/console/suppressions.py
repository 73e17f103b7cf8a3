"""/console/suppressions: search, add, remove — the rules of /v1/suppressions (mailer.feedback.service)."""

from __future__ import annotations

from typing import Any

from flask import g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from mailer.console import guard
from mailer.console.admin_common import page_of, problems
from mailer.console.forms import FormErrors, parse_form
from mailer.console.routes import bp
from mailer.errors import ValidationError
from mailer.feedback import service
from mailer.feedback.schemas import SuppressionCreate, SuppressionDeleteQuery, SuppressionListQuery
from mailer.models import SuppressionReason, SuppressionScope
from mailer.smtp.validation import MessageValidationError

DONE = {"added": lambda: _("The address is suppressed."), "removed": lambda: _("The address is no longer suppressed.")}


def _page(status: int = 200, **context: Any) -> tuple[str, int]:
    search = {name: request.args.get(name, "") for name in ("email", "reason", "scope")}
    try:
        filters = parse_form(SuppressionListQuery, ("email", "reason", "scope"), source=request.args)
    except FormErrors as exc:
        context.setdefault("search_errors", problems(exc))
        filters = SuppressionListQuery()
    entries, page, more = page_of(service.listed(filters))
    context.setdefault("errors", {})
    if (done := request.args.get("done")) in DONE:
        context.setdefault("done", DONE[done]())
    return render_template("console/suppressions.html", entries=entries, page=page, more=more, search=search,
                           reasons=list(SuppressionReason), scopes=list(SuppressionScope),
                           reason_labels={"hard_bounce": _("Hard bounce"), "complaint": _("Complaint"),
                                          "unsubscribe": _("Unsubscribed"), "manual": _("Added by hand")},
                           scope_labels={"all": _("All mail"), "broadcast": _("Broadcasts only")},
                           form=request.form, **context), status


@bp.get("/suppressions")
@guard.admin_only
def suppressions() -> Any:
    return _page()


@bp.post("/suppressions")
@guard.admin_only
def suppressions_add() -> Any:
    try:
        body = parse_form(SuppressionCreate, ("email", "scope"))
        service.create_manual(g.principal, body.email, body.scope)  # audited there
    except (FormErrors, ValidationError, MessageValidationError) as exc:
        return _page(422, errors=problems(exc))
    return redirect(url_for("console.suppressions", done="added", email=body.email.strip().lower()), 303)


@bp.post("/suppressions/remove")
@guard.admin_only
def suppressions_remove() -> Any:
    """DELETE /v1/suppressions/{email}?scope=: one scope, or every scope (audited there)."""
    try:
        query = parse_form(SuppressionDeleteQuery, ("scope",))
    except FormErrors as exc:
        return _page(422, errors=problems(exc))
    service.delete_entries(g.principal, request.form.get("email", ""), query.scope)  # none: the 404 page
    return redirect(url_for("console.suppressions", done="removed"), 303)
