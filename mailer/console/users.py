"""/console/users: the tenant's users, their role and whether they may sign in (PATCH /v1/users/{id}'s service)."""

from __future__ import annotations

from typing import Any

from flask import g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from mailer.admin import service
from mailer.admin.schemas import UserPatch
from mailer.console import guard
from mailer.console.admin_common import page_of, problems
from mailer.console.forms import FormErrors, parse_form
from mailer.console.routes import bp
from mailer.errors import ValidationError
from mailer.models import User
from mailer.security.scope import tenant_select


def _page(status: int = 200, **context: Any) -> tuple[str, int]:
    users, page, more = page_of(tenant_select(User).order_by(User.created_at, User.id))
    context.setdefault("errors", {})
    if request.args.get("done") == "changed":
        context.setdefault("done", _("The user is changed. Their sessions have ended; they sign in again."))
    return render_template("console/users.html", users=users, page=page, more=more,
                           me=guard.current_user(), **context), status


@bp.get("/users")
@guard.admin_only
def users() -> Any:
    return _page()


@bp.post("/users/<user_id>")
@guard.admin_only
def users_update(user_id: str) -> Any:
    """A role, or is_active ("true"/"false"), through the admin service and its last-admin rule (audited there)."""
    try:
        body = parse_form(UserPatch, ("role", "is_active"))
        service.update_user(g.principal, user_id, body.model_dump(exclude_unset=True))
    except (FormErrors, ValidationError) as exc:
        return _page(422, errors=problems(exc), failed_user=user_id)
    return redirect(url_for("console.users", done="changed"), 303)
