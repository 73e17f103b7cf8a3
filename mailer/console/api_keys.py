"""/console/api-keys: the console's face of /v1/api-keys (create, list, revoke), through the admin service."""

from __future__ import annotations

from typing import Any

from flask import g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from mailer.admin import service
from mailer.admin.schemas import ApiKeyCreate
from mailer.console import guard
from mailer.console.admin_common import page_of, problems
from mailer.console.forms import FormErrors, parse_form
from mailer.console.routes import bp
from mailer.errors import ValidationError
from mailer.models import ApiKey
from mailer.security.scope import tenant_select

NAME_HINT = _l("Enter a name of 1 to 100 characters, to tell the key apart.")


def _page(status: int = 200, **context: Any) -> tuple[str, int]:
    # GET /v1/api-keys's list: the tenant's live keys, never a secret.
    query = tenant_select(ApiKey).where(ApiKey.revoked_at.is_(None)).order_by(ApiKey.created_at.desc(), ApiKey.id)
    keys, page, more = page_of(query)
    context.setdefault("errors", {})
    if request.args.get("done") == "revoked":
        context.setdefault("done", _("The key is revoked: it no longer works."))
    return render_template("console/api_keys.html", keys=keys, page=page, more=more, **context), status


@bp.get("/api-keys")
@guard.admin_only
def api_keys() -> Any:
    return _page()


@bp.post("/api-keys")
@guard.admin_only
def api_keys_create() -> Any:
    try:
        body = parse_form(ApiKeyCreate, ("name",))
        key, secret = service.create_api_key(g.principal, body.name)  # audited there, without the secret
    except (FormErrors, ValidationError) as exc:
        return _page(422, errors=problems(exc, name=NAME_HINT), form={"name": request.form.get("name", "")})
    # The only time the key is shown (the answer is no-store, like every console page).
    return _page(201, created=key, secret=secret)


@bp.post("/api-keys/<key_id>/revoke")
@guard.admin_only
def api_keys_revoke(key_id: str) -> Any:
    service.revoke_api_key(g.principal, key_id)  # another tenant's or a revoked key: NotFoundError, the 404 page
    return redirect(url_for("console.api_keys", done="revoked"), 303)
