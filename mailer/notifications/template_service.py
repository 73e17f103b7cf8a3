"""Tenant templates and their language variants (API.md §14): validate, store, list, delete, preview.

A `locale` argument names a language variant (`?locale=zh-CN`); without it a call is about the template
itself. Deleting a template deletes its variants too.

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
from sqlalchemy import delete, select

from mailer.audit import record_audit
from mailer.errors import NotFoundError, ValidationError
from mailer.extensions import atomic, db
from mailer.i18n import rendered_in
from mailer.mail.system_mail import preview_context
from mailer.mail.templates import (
    Rendered,
    TemplateNotFoundError,
    TemplateSource,
    builtin_names,
    check_template,
    find_template,
    load_builtin,
    reader_locale,
    render,
    template_variant,
    template_variants,
    tenant_context,
    tenant_template,
)
from mailer.models import ActorType, Template, TemplateVariant, Tenant, User
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
    locale: str | None = None  # a language variant's; None for the template itself
    variants: tuple[str, ...] = ()  # the template's language variants (the template itself only)


def _view(row: Template | TemplateVariant, variants: tuple[str, ...] = ()) -> TemplateView:
    locale = row.locale if isinstance(row, TemplateVariant) else None
    return TemplateView(row.name, TemplateSource(row.subject, row.html, row.text), row.description, "tenant",
                        row.created_at, row.updated_at, locale, variants)


def _variant_locales(tenant_id: Any, name: str) -> tuple[str, ...]:
    return tuple(template_variants(tenant_id, name))


def _stored_variant(principal: Principal, name: str, locale: str) -> TemplateVariant:
    """The tenant's `locale` variant of `name`; NotFoundError if it has none."""
    variant = template_variant(principal.tenant_id, name, locale) if NAME.match(name) else None
    if variant is None:
        raise NotFoundError()
    return variant


def get_template(principal: Principal, name: str, locale: str | None = None) -> TemplateView:
    """The tenant's template of that name (or its `locale` variant), else the built-in one; NotFoundError otherwise."""
    if locale is not None:
        return _view(_stored_variant(principal, name, locale))
    if not NAME.match(name):
        raise NotFoundError()
    variants = _variant_locales(principal.tenant_id, name)
    row = tenant_template(principal.tenant_id, name)
    if row is not None:
        return _view(row, variants)
    builtin = load_builtin(name)
    if builtin is None:
        raise NotFoundError()
    return TemplateView(name, builtin, "", "builtin", variants=variants)


def list_templates(principal: Principal) -> list[TemplateView]:
    rows = db.session.scalars(
        select(Template).where(Template.tenant_id == principal.tenant_id).order_by(Template.name)
    ).all()
    variants: dict[str, list[str]] = {}
    for variant_name, locale in db.session.execute(
        select(TemplateVariant.name, TemplateVariant.locale)
        .where(TemplateVariant.tenant_id == principal.tenant_id).order_by(TemplateVariant.locale)
    ):
        variants.setdefault(variant_name, []).append(locale)
    views = {row.name: _view(row, tuple(variants.get(row.name, ()))) for row in rows}
    for name in builtin_names():
        if name not in views and (builtin := load_builtin(name)) is not None:
            views[name] = TemplateView(name, builtin, "", "builtin", variants=tuple(variants.get(name, ())))
    return [views[name] for name in sorted(views)]


def put_template(principal: Principal, name: str, body: TemplateIn,
                 locale: str | None = None) -> tuple[TemplateView, bool]:
    """Create or replace the template (or its `locale` variant); returns the view and whether it was created."""
    if not NAME.match(name):
        raise ValidationError(errors=[{"field": "name", "message": "lower-case letters, digits, '_' and '-'"}])
    if body.html is None and body.text is None:
        raise ValidationError(errors=[{"field": "text", "message": "html or text is required"}])
    source = TemplateSource(body.subject, body.html, body.text)
    check_template(source)
    row: Template | TemplateVariant | None
    if locale is None:
        row = tenant_template(principal.tenant_id, name)
    else:
        row = template_variant(principal.tenant_id, name, locale)
    created = row is None
    if row is None:
        row = Template(tenant_id=principal.tenant_id, name=name) if locale is None else \
            TemplateVariant(tenant_id=principal.tenant_id, name=name, locale=locale)
        db.session.add(row)
    row.subject, row.html, row.text, row.description = body.subject, body.html, body.text, body.description
    db.session.flush()
    with atomic():
        _audit(principal, name, locale, "created" if created else "replaced")
    return _view(row, () if locale else _variant_locales(principal.tenant_id, name)), created


def _audit(principal: Principal, name: str, locale: str | None, change: str) -> None:
    details = {"name": name, "change": change} | ({"locale": locale} if locale else {})
    record_audit("template.changed", tenant_id=principal.tenant_id, actor_id=principal.id,
                 actor_type=principal.kind, details=details)


def delete_template(principal: Principal, name: str, locale: str | None = None) -> None:
    """Delete a language variant, or the template with all of its variants; NotFoundError if there is none."""
    if locale is not None:
        db.session.delete(_stored_variant(principal, name, locale))
    elif not NAME.match(name):
        raise NotFoundError()
    else:
        row = tenant_template(principal.tenant_id, name)
        removed = db.session.execute(delete(TemplateVariant).where(
            TemplateVariant.tenant_id == principal.tenant_id, TemplateVariant.name == name))
        if row is None and not removed.rowcount:  # type: ignore[attr-defined]
            raise NotFoundError()
        if row is not None:
            db.session.delete(row)
    with atomic():
        _audit(principal, name, locale, "deleted")


def preview_template(principal: Principal, name: str, data: dict[str, Any], locale: str | None = None) -> Rendered:
    """Render with the caller's data, the tenant, and (unless data gives one) the caller as recipient."""
    if not NAME.match(name):
        raise NotFoundError()
    tenant = db.session.get(Tenant, principal.tenant_id)
    try:
        source = find_template(tenant.id, name, locale)
    except TemplateNotFoundError:
        raise NotFoundError() from None
    return _preview(principal, tenant, name, source, data, locale)


def preview_draft(principal: Principal, name: str, body: TemplateIn, data: dict[str, Any],
                  locale: str | None = None) -> Rendered:
    """A template as it would be saved under ``name`` (not stored), rendered as preview_template renders."""
    if not NAME.match(name):
        raise ValidationError(errors=[{"field": "name", "message": "lower-case letters, digits, '_' and '-'"}])
    source = TemplateSource(body.subject, body.html, body.text)
    return _preview(principal, db.session.get(Tenant, principal.tenant_id), name, source, data, locale)


def _preview(principal: Principal, tenant: Tenant, name: str, source: TemplateSource, data: dict[str, Any],
             locale: str | None) -> Rendered:
    check_template(source)
    user = db.session.get(User, principal.id) if principal.kind == ActorType.USER else None
    sample = {"email": user.email, "name": user.name} if user else {"email": "recipient@example.com", "name": ""}
    config = current_app.config["MAILER"]
    reader = locale or reader_locale(config, tenant, user.locale if user else None)
    # Auth mail templates see what they are sent with (user, links, lifetimes); the caller's data wins.
    system = preview_context(config, tenant, name, sample, reader)
    context = {"recipient": sample, **system, **data, "data": data, **tenant_context(tenant)}
    with rendered_in(reader):
        return render(source, context)
