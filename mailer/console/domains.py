"""/console/domains: sending domains, the records to publish, "Check now" — the rules of /v1/domains."""

from __future__ import annotations

from typing import Any

from flask import current_app, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from mailer.console import guard
from mailer.console.admin_common import page_of, problems, refusal
from mailer.console.forms import FormErrors, parse_form
from mailer.console.routes import bp
from mailer.domains import service
from mailer.domains.records import records_for
from mailer.domains.schemas import DomainCreate
from mailer.errors import UnavailableError, ValidationError
from mailer.models import SendingDomain
from mailer.security.scope import get_owned, tenant_select

NAME_HINT = _l("Enter a domain name such as example.com that the organization has not added yet.")
DONE = {"rotated": _l("A new DKIM key: publish its record below. The current key signs until the new one "
                      "is verified."),
        "deleted": _l("The domain is removed; mail from it is no longer signed."),
        "added": _l("The domain is added. Publish the records below at your DNS provider, then check.")}


def labels() -> dict[str, Any]:
    return {
        "status": {"pending": _("Waiting"), "verified": _("Verified"), "failed": _("Does not match")},
        "purpose": {"dkim": _("DKIM signature key (required)"), "return_path": _("Return path for bounces"),
                    "spf": _("SPF (recommended)"), "dmarc": _("DMARC (recommended)")},
    }


@bp.get("/domains")
@guard.admin_only
def domains() -> Any:
    return _list()


def _list(status: int = 200, **context: Any) -> tuple[str, int]:
    rows, page, more = page_of(tenant_select(SendingDomain).order_by(SendingDomain.created_at, SendingDomain.id))
    context.setdefault("errors", {})
    if (done := request.args.get("done")) in DONE:
        context.setdefault("done", str(DONE[done]))
    return render_template("console/domains.html", domains=rows, page=page, more=more, labels=labels(),
                           **context), status


@bp.post("/domains")
@guard.admin_only
def domains_create() -> Any:
    try:
        body = parse_form(DomainCreate, ("name",))
        domain = service.create_domain(g.principal, body.name)  # a fresh DKIM key; audited there
    except (FormErrors, ValidationError) as exc:
        return _list(422, errors=problems(exc, name=NAME_HINT), form=request.form)
    return redirect(url_for("console.domains_one", domain_id=domain.id, done="added"), 303)


def _detail(domain: SendingDomain, status: int = 200, **context: Any) -> tuple[str, int]:
    if (done := request.args.get("done")) in DONE:
        context.setdefault("done", str(DONE[done]))
    return render_template("console/domain.html", domain=domain, labels=labels(),
                           records=records_for(current_app.config["MAILER"], domain), **context), status


@bp.get("/domains/<domain_id>")
@guard.admin_only
def domains_one(domain_id: str) -> Any:
    return _detail(get_owned(SendingDomain, domain_id))  # another tenant's: the 404 page


@bp.post("/domains/<domain_id>/check")
@guard.admin_only
def domains_check(domain_id: str) -> Any:
    """POST /v1/domains/{id}/verify: every record looked up now; what came back is shown beside what is expected."""
    try:
        checked, found = service.check_domain(g.principal, domain_id)
    except UnavailableError as exc:
        return _detail(get_owned(SendingDomain, domain_id), 503, failure=refusal(exc))
    return _detail(checked, found=found)


@bp.post("/domains/<domain_id>/rotate-dkim")
@guard.admin_only
def domains_rotate(domain_id: str) -> Any:
    service.rotate_dkim(g.principal, domain_id)
    return redirect(url_for("console.domains_one", domain_id=domain_id, done="rotated"), 303)


@bp.post("/domains/<domain_id>/delete")
@guard.admin_only
def domains_delete(domain_id: str) -> Any:
    service.delete_domain(g.principal, domain_id)
    return redirect(url_for("console.domains", done="deleted"), 303)
