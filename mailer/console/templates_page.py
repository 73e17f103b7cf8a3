"""/console/templates: the tenant's templates — list, create, edit with a preview, delete — through the
service /v1/templates calls (template_service); previews render in the same sandbox as the mail.

Language variants (API.md §14, `?locale=`): the form's `locale` field (base, en, zh-CN) says which version
a Save, Preview or Delete is for, as `?locale=` does for PUT|DELETE /v1/templates/{name} and its preview;
`/console/templates/<name>?locale=zh-CN` opens that version (a missing one starts from the base).
"""

from __future__ import annotations

from typing import Any

from flask import g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from mailer.console import guard
from mailer.console.admin_common import json_object, problems
from mailer.console.forms import FormErrors, parse_form
from mailer.console.routes import bp
from mailer.errors import NotFoundError, ValidationError
from mailer.mail.templates import TemplateRenderError
from mailer.notifications import template_service
from mailer.notifications.responses import TemplateLocaleQuery
from mailer.notifications.schemas import TemplateIn

FIELDS = ("subject", "html", "text", "description")
NAME_HINT = _l("Use 1 to 100 lower-case letters, digits, '_' and '-', starting with a letter or digit.")
SUBJECT_HINT = _l("Enter a subject (it may use variables such as {{ recipient.name }}).")
LOCALE_HINT = _l("Choose the base version, English or Simplified Chinese.")
DONE = {"saved": _l("The template is saved."), "deleted": _l("The template is deleted."),
        "variant_deleted": _l("The language version is deleted; the base version applies to that language again.")}


def _form() -> dict[str, Any]:
    return {name: request.form.get(name, "") for name in ("name", *FIELDS, "data", "locale")}


def _body(form: dict[str, Any]) -> TemplateIn:
    """The form as PUT /v1/templates/{name}'s body (an empty HTML or text part is no part)."""
    return parse_form(TemplateIn, FIELDS, source=form)


def _locale(source: Any) -> str | None:
    """The form's or query's `locale` as the API reads `?locale=` (empty: the base); FormErrors otherwise."""
    return parse_form(TemplateLocaleQuery, ("locale",), source=source).locale


def _query_locale() -> str | None:
    """?locale= of a page link: an unknown language is no page (the 404 page), as the API's 404 for a variant."""
    try:
        return _locale(request.args)
    except FormErrors:
        raise NotFoundError() from None


def _render(page: str, status: int = 200, **context: Any) -> tuple[str, int]:
    context.setdefault("errors", {})
    if (done := request.args.get("done")) in DONE:
        context.setdefault("done", str(DONE[done]))
    return render_template(page, **context), status


def _list(status: int = 200, **context: Any) -> tuple[str, int]:
    context.setdefault("form", {})
    views = template_service.list_templates(g.principal)
    return _render("console/templates.html", status, views=views, **context)


def _save_or_preview(name: str, form: dict[str, Any], again: Any) -> Any:
    """"preview": render the form's template (not stored) for a sample recipient; else save it (audited)."""
    try:
        locale = _locale(form)
        body = _body(form)
        if request.form.get("action") == "preview":
            rendered = template_service.preview_draft(g.principal, name, body, json_object(form["data"]), locale)
            return again(200, form=form, preview=rendered)
        template_service.put_template(g.principal, name, body, locale)
    except (FormErrors, ValidationError, TemplateRenderError) as exc:
        return again(422, form=form, errors=problems(exc, name=NAME_HINT, subject=SUBJECT_HINT, locale=LOCALE_HINT))
    return redirect(url_for("console.templates_one", name=name, locale=locale, done="saved"), 303)


@bp.get("/templates")
@guard.admin_only
def templates() -> Any:
    return _list()


@bp.post("/templates")
@guard.admin_only
def templates_create() -> Any:
    form = _form()
    name = form["name"].strip()
    if not template_service.NAME.match(name):
        return _list(422, form=form, errors={"name": NAME_HINT})
    return _save_or_preview(name, form, _list)


def _edit(name: str, status: int = 200, **context: Any) -> tuple[str, int]:
    """The template's page, showing the version ?locale= names; a language without a version of its own shows
    the base's text, to start that version from."""
    view = template_service.get_template(g.principal, name)  # unknown: NotFoundError, the 404 page
    locale = _query_locale()
    shown = template_service.get_template(g.principal, name, locale) if locale in view.variants else view
    if "form" not in context:
        context["form"] = {"subject": shown.source.subject, "html": shown.source.html or "",
                           "text": shown.source.text or "", "description": shown.description, "data": "",
                           "locale": locale or ""}
    return _render("console/template.html", status, view=view, locale=locale, stored=shown.locale == locale,
                   **context)


@bp.get("/templates/<name>")
@guard.admin_only
def templates_one(name: str) -> Any:
    return _edit(name)


@bp.post("/templates/<name>")
@guard.admin_only
def templates_update(name: str) -> Any:
    template_service.get_template(g.principal, name)  # only a template that exists is edited here
    return _save_or_preview(name, _form(), lambda status, **context: _edit(name, status, **context))


@bp.get("/templates/<name>/delete")
@guard.admin_only
def templates_delete_confirm(name: str) -> Any:
    view = template_service.get_template(g.principal, name)
    locale = _query_locale()
    if locale is not None:
        template_service.get_template(g.principal, name, locale)  # no such version: the 404 page
    elif view.origin != "tenant":
        return _edit(name, 409, failure=_("A built-in template cannot be deleted."))
    return _render("console/template_delete.html", view=view, locale=locale)


@bp.post("/templates/<name>/delete")
@guard.admin_only
def templates_delete(name: str) -> Any:
    try:
        locale = _locale(request.form)
    except FormErrors:
        raise NotFoundError() from None
    template_service.delete_template(g.principal, name, locale)  # built-in or unknown: NotFoundError, the 404 page
    if locale is not None:
        return redirect(url_for("console.templates_one", name=name, done="variant_deleted"), 303)
    return redirect(url_for("console.templates", done="deleted"), 303)
