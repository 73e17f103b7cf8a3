"""Templates (admin only): GET /v1/templates, GET|PUT|DELETE /v1/templates/{name}, POST …/preview."""

from __future__ import annotations

from typing import Any

from mailer.http.json import iso, parse_body, parse_query
from mailer.http.pagination import Page
from mailer.models import Role
from mailer.notifications import template_service as templates
from mailer.notifications.responses import RenderedOut, TemplateListQuery, TemplateLocaleQuery, TemplateOut
from mailer.notifications.routes import bp
from mailer.notifications.schemas import PreviewIn, TemplateIn
from mailer.openapi.registry import documented
from mailer.security.principal import current_principal, require_role


def template_json(view: templates.TemplateView) -> dict[str, Any]:
    body = {
        "name": view.name,
        "locale": view.locale,
        "subject": view.source.subject,
        "html": view.source.html,
        "text": view.source.text,
        "description": view.description,
        "source": view.origin,
        "created_at": iso(view.created_at),
        "updated_at": iso(view.updated_at),
    }
    if view.locale is None:
        body["variants"] = list(view.variants)
    return body


def _locale() -> str | None:
    return parse_query(TemplateLocaleQuery).locale


@bp.get("/templates")
@documented("The tenant's templates and the built-in ones", query=TemplateListQuery, response=Page[TemplateOut])
@require_role(Role.ADMIN)
def list_templates() -> Any:
    filters = parse_query(TemplateListQuery)
    page, per_page = filters.page, filters.per_page
    views = templates.list_templates(current_principal())
    if source := filters.source:
        views = [v for v in views if v.origin == source]
    chunk = views[(page - 1) * per_page: page * per_page]
    return {"items": [template_json(v) for v in chunk], "page": page, "per_page": per_page, "total": len(views)}


@bp.get("/templates/<name>")
@documented("A template: the tenant's, else the built-in one; `?locale=` its language variant",
            query=TemplateLocaleQuery, response=TemplateOut)
@require_role(Role.ADMIN)
def get_template(name: str) -> Any:
    return template_json(templates.get_template(current_principal(), name, _locale()))


@bp.put("/templates/<name>")
@documented("Create (201) or replace (200) a tenant template, or with `?locale=` its language variant",
            query=TemplateLocaleQuery, body=TemplateIn, response=TemplateOut, responses={201: TemplateOut})
@require_role(Role.ADMIN)
def put_template(name: str) -> Any:
    locale = _locale()
    body = parse_body(TemplateIn)
    view, created = templates.put_template(current_principal(), name, body, locale)
    return template_json(view), 201 if created else 200


@bp.delete("/templates/<name>")
@documented("Delete a tenant template and its language variants (the built-in one, if any, applies again), "
            "or with `?locale=` one variant", query=TemplateLocaleQuery, status=204)
@require_role(Role.ADMIN)
def delete_template(name: str) -> Any:
    templates.delete_template(current_principal(), name, _locale())
    return "", 204


@bp.post("/templates/<name>/preview")
@documented("Render a template (`?locale=`: its language variant, else the template) with the given data",
            query=TemplateLocaleQuery, body=PreviewIn, response=RenderedOut)
@require_role(Role.ADMIN)
def preview_template(name: str) -> Any:
    locale = _locale()
    body = parse_body(PreviewIn)
    rendered = templates.preview_template(current_principal(), name, body.data, locale)
    return {"subject": rendered.subject, "html": rendered.html, "text": rendered.text}
