"""Tenant templates: validate, store, list, delete, preview.

A template is checked when it is saved: its syntax, and a static refusal of the
constructs SSTI payloads rely on (underscore attributes, the `attr` filter). Rendering
itself happens in the sandbox of mailer/mail/templates.py, bounded in time and size.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import select

from mailer.audit import record_audit
from mailer.errors import NotFoundError, ValidationError
from mailer.extensions import db
from mailer.mail.system_mail import preview_context
from mailer.mail.templates import (
    Rendered,
    TemplateNotFoundError,
    TemplateSource,
    builtin_names,
    check_template,
    find_template,
    load_builtin,
    render,
    tenant_context,
    tenant_template,
)
from mailer.models import Template, Tenant, User
from mailer.notifications.schemas import TemplateIn
from mailer.security.types import Principal

NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,99}$")


@dataclass(frozen=True)
class TemplateView:
    name: str
    source: TemplateSource
    description: str
    origin: str  # "tenant" or "builtin"
    created_at: datetime | None = None
    updated_at: datetime | None = None


def _view(row: Template) -> TemplateView:
    return TemplateView(row.name, TemplateSource(row.subject, row.html, row.text), row.description, "tenant",
                        row.created_at, row.updated_at)


def get_template(principal: Principal, name: str) -> TemplateView:
    """The tenant's template of that name, else the built-in one; NotFoundError otherwise."""
    if not NAME.match(name):
        raise NotFoundError()
    row = tenant_template(principal.tenant_id, name)
    if row is not None:
        return _view(row)
    builtin = load_builtin(name)
    if builtin is None:
        raise NotFoundError()
    return TemplateView(name, builtin, "", "builtin")


def list_templates(principal: Principal) -> list[TemplateView]:
    rows = db.session.scalars(
        select(Template).where(Template.tenant_id == principal.tenant_id).order_by(Template.name)
    ).all()
    views = {row.name: _view(row) for row in rows}
    for name in builtin_names():
        if name not in views and (builtin := load_builtin(name)) is not None:
            views[name] = TemplateView(name, builtin, "", "builtin")
    return [views[name] for name in sorted(views)]


def put_template(principal: Principal, name: str, body: TemplateIn) -> tuple[TemplateView, bool]:
    """Create or replace; returns the view and whether it was created."""
    if not NAME.match(name):
        raise ValidationError(errors=[{"field": "name", "message": "lower-case letters, digits, '_' and '-'"}])
    if body.html is None and body.text is None:
        raise ValidationError(errors=[{"field": "text", "message": "html or text is required"}])
    source = TemplateSource(body.subject, body.html, body.text)
    check_template(source)
    row = tenant_template(principal.tenant_id, name)
    created = row is None
    if row is None:
        row = Template(tenant_id=principal.tenant_id, name=name)
        db.session.add(row)
    row.subject, row.html, row.text, row.description = body.subject, body.html, body.text, body.description
    db.session.flush()
    record_audit("template.changed", tenant_id=principal.tenant_id, actor_id=principal.id,
                 actor_type=principal.kind, details={"name": name, "change": "created" if created else "replaced"})
    db.session.commit()
    return _view(row), created


def delete_template(principal: Principal, name: str) -> None:
    row = tenant_template(principal.tenant_id, name) if NAME.match(name) else None
    if row is None:
        raise NotFoundError()
    db.session.delete(row)
    record_audit("template.changed", tenant_id=principal.tenant_id, actor_id=principal.id,
                 actor_type=principal.kind, details={"name": name, "change": "deleted"})
    db.session.commit()


def preview_template(principal: Principal, name: str, data: dict[str, Any]) -> Rendered:
    """Render with the caller's data, the tenant, and (unless data gives one) the caller as recipient."""
    if not NAME.match(name):
        raise NotFoundError()
    tenant = db.session.get(Tenant, principal.tenant_id)
    try:
        source = find_template(tenant.id, name)
    except TemplateNotFoundError:
        raise NotFoundError() from None
    return _preview(principal, tenant, name, source, data)


def preview_draft(principal: Principal, name: str, body: TemplateIn, data: dict[str, Any]) -> Rendered:
    """A template as it would be saved under ``name`` (not stored), rendered as preview_template renders."""
    if not NAME.match(name):
        raise ValidationError(errors=[{"field": "name", "message": "lower-case letters, digits, '_' and '-'"}])
    source = TemplateSource(body.subject, body.html, body.text)
    return _preview(principal, db.session.get(Tenant, principal.tenant_id), name, source, data)


def _preview(principal: Principal, tenant: Tenant, name: str, source: TemplateSource, data: dict[str, Any]
             ) -> Rendered:
    check_template(source)
    user = db.session.get(User, principal.id) if principal.kind == "user" else None
    sample = {"email": user.email, "name": user.name} if user else {"email": "recipient@example.com", "name": ""}
    # Auth mail templates see what they are sent with (user, links, lifetimes); the caller's data wins.
    system = preview_context(current_app.config["MAILER"], tenant, name, sample)
    context = {"recipient": sample, **system, **data, "data": data, **tenant_context(tenant)}
    return render(source, context)
