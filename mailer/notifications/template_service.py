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
from jinja2 import Environment, TemplateSyntaxError, nodes
from sqlalchemy import select

from mailer.audit import record_audit
from mailer.errors import NotFoundError, TemplateError
from mailer.extensions import db
from mailer.mail.system_mail import preview_context
from mailer.mail.templates import (
    Rendered,
    TemplateNotFoundError,
    TemplateRenderError,
    TemplateSource,
    builtin_names,
    check_syntax,
    find_template,
    load_builtin,
    render,
)
from mailer.models import Template, Tenant
from mailer.notifications.schemas import TemplateIn
from mailer.security.principal import Principal

NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,99}$")
_FORBIDDEN_FILTERS = frozenset({"attr"})
_PARSER = Environment(autoescape=True)  # parsing only; never renders


@dataclass(frozen=True)
class TemplateView:
    name: str
    source: TemplateSource
    description: str
    origin: str  # "tenant" or "builtin"
    created_at: datetime | None = None
    updated_at: datetime | None = None


def template_error(exc: TemplateRenderError) -> TemplateError:
    error = {"field": exc.part, "message": str(exc)}
    if exc.line:
        error["line"] = exc.line  # type: ignore[assignment]
    return TemplateError(str(exc), errors=[error])


def _refusal(node: nodes.Node) -> str | None:
    """Why a node is refused: the building blocks of sandbox escapes are never needed in mail."""
    if isinstance(node, nodes.Getattr) and node.attr.startswith("_"):
        return f"attribute {node.attr!r} is not allowed"
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const) and \
            isinstance(node.arg.value, str) and node.arg.value.startswith("_"):
        return f"item {node.arg.value!r} is not allowed"
    if isinstance(node, nodes.Filter) and node.name in _FORBIDDEN_FILTERS:
        return f"filter {node.name!r} is not allowed"
    return None


def check_template(source: TemplateSource) -> None:
    """Syntax and static safety of every part; raises TemplateError (422)."""
    try:
        check_syntax(source)
    except TemplateRenderError as exc:
        raise template_error(exc) from None
    for part, text in (("subject", source.subject), ("html", source.html), ("text", source.text)):
        if text is None:
            continue
        try:
            tree = _PARSER.parse(text)
        except TemplateSyntaxError as exc:
            raise template_error(TemplateRenderError(str(exc.message), part=part, line=exc.lineno)) from None
        for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Filter)):
            reason = _refusal(node)
            if reason:
                raise template_error(TemplateRenderError(reason, part=part, line=node.lineno))


def _row(tenant_id: Any, name: str) -> Template | None:
    return db.session.scalars(select(Template).where(Template.tenant_id == tenant_id, Template.name == name)).first()


def _view(row: Template) -> TemplateView:
    return TemplateView(row.name, TemplateSource(row.subject, row.html, row.text), row.description, "tenant",
                        row.created_at, row.updated_at)


def get_template(principal: Principal, name: str) -> TemplateView:
    """The tenant's template of that name, else the built-in one; NotFoundError otherwise."""
    if not NAME.match(name):
        raise NotFoundError()
    row = _row(principal.tenant_id, name)
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
    from mailer.errors import ValidationError

    if not NAME.match(name):
        raise ValidationError(errors=[{"field": "name", "message": "lower-case letters, digits, '_' and '-'"}])
    if body.html is None and body.text is None:
        raise ValidationError(errors=[{"field": "text", "message": "html or text is required"}])
    source = TemplateSource(body.subject, body.html, body.text)
    check_template(source)
    row = _row(principal.tenant_id, name)
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
    row = _row(principal.tenant_id, name) if NAME.match(name) else None
    if row is None:
        raise NotFoundError()
    db.session.delete(row)
    record_audit("template.changed", tenant_id=principal.tenant_id, actor_id=principal.id,
                 actor_type=principal.kind, details={"name": name, "change": "deleted"})
    db.session.commit()


def preview_template(principal: Principal, name: str, data: dict[str, Any]) -> Rendered:
    """Render with the caller's data, the tenant, and (unless data gives one) the caller as recipient."""
    from mailer.models import User

    if not NAME.match(name):
        raise NotFoundError()
    tenant = db.session.get(Tenant, principal.tenant_id)
    try:
        source = find_template(tenant.id, name)
    except TemplateNotFoundError:
        raise NotFoundError() from None
    check_template(source)
    user = db.session.get(User, principal.id) if principal.kind == "user" else None
    sample = {"email": user.email, "name": user.name} if user else {"email": "recipient@example.com", "name": ""}
    # Auth mail templates see what they are sent with (user, links, lifetimes); the caller's data wins.
    system = preview_context(current_app.config["MAILER"], tenant, name, sample)
    context = {"recipient": sample, **system, **data, "data": data,
               "tenant": {"name": tenant.name, "slug": tenant.slug}}
    try:
        return render(source, context)
    except TemplateRenderError as exc:
        raise template_error(exc) from None
