"""/console/settings: the tenant (PATCH /v1/tenant's service) and its relay (/v1/tenant/smtp's service).

Only the fields a person changed are sent, so the audit record names what changed. The branding and the
default language (API.md §14) go through the same call, so branding.py's rules apply to them as to the API.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from mailer.admin import service
from mailer.admin.schemas import TenantPatch
from mailer.console import guard
from mailer.console.admin_common import problems
from mailer.console.forms import FormErrors, parse_form
from mailer.console.routes import bp
from mailer.domains.names import domain_of
from mailer.domains.policy import verified_domains
from mailer.errors import NotFoundError, ValidationError
from mailer.extensions import db
from mailer.models import Tenant, TenantRelay
from mailer.relays import service as relays
from mailer.relays.schemas import RelayPut
from mailer.smtp.validation import MessageValidationError

TEXT_FIELDS = ("name", "frontend_url", "mail_from", "mail_from_name", "retention_days",
               "default_locale", "brand_color", "logo_url", "postal_address")
RELAY_FIELDS = ("host", "port", "encryption", "username", "password", "verify_tls")
DONE = {"saved": _l("The settings are saved."), "relay": _l("The relay is saved. Test it below."),
        "relay_removed": _l("The organization's mail goes through the service's own relay again.")}
RELAY_HINTS = {"password": _l("A password needs a username; use at most 512 characters.")}


def _page(status: int = 200, **context: Any) -> tuple[str, int]:
    config = current_app.config["MAILER"]
    tenant = db.session.get(Tenant, g.principal.tenant_id)
    context.setdefault("errors", {})
    context.setdefault("relay_errors", {})
    if (done := request.args.get("done")) in DONE:
        context.setdefault("done", str(DONE[done]))
    return render_template(
        "console/settings.html", tenant=tenant, default_locale=config.DEFAULT_LOCALE,
        relay=db.session.get(TenantRelay, tenant.id),
        sender_domains=sorted({domain_of(config.MAIL_FROM), *verified_domains(tenant)}
                              | ({domain_of(tenant.mail_from)} if tenant.mail_from else set())),
        max_retention=config.MESSAGE_RETENTION_DAYS, **context,
    ), status


@bp.get("/settings")
@guard.admin_only
def settings() -> Any:
    return _page()


def _changes(tenant: Tenant) -> dict[str, Any]:
    """The form's fields that differ from the tenant, as PATCH /v1/tenant would receive them; an emptied
    optional field is null (the service's default: the operator's sender, the longest retention)."""
    form = {name: request.form.get(name, "") for name in TEXT_FIELDS}
    form["postal_address"] = form["postal_address"].replace("\r\n", "\n")  # a textarea's line ends
    form["signup_enabled"] = "true" if request.form.get("signup_enabled") else "false"
    given = parse_form(TenantPatch, (*TEXT_FIELDS, "signup_enabled"), source=form).model_dump(exclude_unset=True)
    if "name" not in given:
        raise FormErrors({"name": _("Enter the organization's name.")})
    changes = {}
    for field in (*TEXT_FIELDS, "signup_enabled"):
        value = given.get(field)
        if value != getattr(tenant, field):
            changes[field] = value
    return changes


@bp.post("/settings")
@guard.admin_only
def settings_update() -> Any:
    tenant = db.session.get(Tenant, g.principal.tenant_id)
    try:
        changes = _changes(tenant)
        if changes:
            service.update_tenant(g.principal, changes)  # §10's sender rule, §11's retention; audited there
    except (FormErrors, ValidationError, MessageValidationError) as exc:
        db.session.rollback()
        return _page(422, errors=problems(exc), form=request.form)
    return redirect(url_for("console.settings", done="saved"), 303)


@bp.post("/settings/relay")
@guard.admin_only
def settings_relay() -> Any:
    form = dict(request.form)
    form["verify_tls"] = "true" if request.form.get("verify_tls") else "false"
    try:
        body = parse_form(RelayPut, RELAY_FIELDS, source=form)
        relays.put_relay(g.principal, body)  # the private-address guard, the sealed password; audited there
    except (FormErrors, ValidationError) as exc:
        db.session.rollback()
        return _page(422, relay_errors=problems(exc, **RELAY_HINTS), relay_form=request.form)
    return redirect(url_for("console.settings", done="relay"), 303)


@bp.post("/settings/relay/remove")
@guard.admin_only
def settings_relay_remove() -> Any:
    relays.delete_relay(g.principal)
    return redirect(url_for("console.settings", done="relay_removed"), 303)


@bp.post("/settings/relay/test")
@guard.admin_only
def settings_relay_test() -> Any:
    try:
        result = relays.probe_relay(g.principal)
    except NotFoundError:
        return _page(404, failure=_("There is no relay of the organization's own to test."))
    return _page(probe=result)
