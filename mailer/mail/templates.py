"""Renders email templates in a Jinja2 sandbox (mail/sandbox.py), bounded in time, size and depth.

HTML parts are autoescaped; subject and text parts are not (they are not HTML).
Undefined variables are errors. A tenant's template overrides the built-in one of
the same name (top-level templates/email/<name>/{subject.txt,body.html,body.txt}).
Templates may use gettext (`{% trans %}`, `_()`): the built-in ones are written in English and
translated through the catalogs, in the language of whatever ``rendered_in`` the caller runs them.
"""

from __future__ import annotations

import functools
import os
import uuid
from typing import Any

from jinja2 import Environment, TemplateError, TemplateSyntaxError, nodes
from sqlalchemy import select

from mailer.config import ROOT, Config
from mailer.extensions import db
from mailer.mail.render_child import render_isolated, render_isolated_many
from mailer.mail.rendering import (
    _ENVIRONMENTS,
    MAX_OUTPUT_CHARS,
    MAX_RENDER_SECONDS,
    Rendered,
    TemplateRenderError,
    TemplateSource,
    _compile,
    render_in_process,
)
from mailer.models import Template, TemplateVariant, Tenant

__all__ = [
    "MAX_OUTPUT_CHARS", "MAX_RENDER_SECONDS", "Rendered", "TemplateNotFoundError", "TemplateRenderError",
    "TemplateSource", "render", "render_in_process",
]

BUILTIN_DIR = os.path.join(ROOT, "templates", "email")
_FORBIDDEN_FILTERS = frozenset({"attr"})
_PARSER = Environment(autoescape=True, extensions=["jinja2.ext.i18n"])  # parsing only; never renders


class TemplateNotFoundError(LookupError):
    pass


DEFAULT_BRAND_COLOR = "#2563eb"


def render(source: TemplateSource, context: dict[str, Any], *, seconds: float = MAX_RENDER_SECONDS,
           subject: str | None = None) -> Rendered:
    """Render every part within one budget of time and size. Raises TemplateRenderError naming the part and line.

    A template a tenant wrote renders in a child process with memory and CPU limits and a hard kill (N2).
    ``subject``: what the subject renders to with this context, known already: a render in this process (a built-in
    template) keeps it instead of rendering the part again; the child renders every part.
    """
    if source.trusted:
        return render_in_process(source, context, seconds=seconds, subject=subject)
    _compile_parts(source)
    return render_isolated(source, context, seconds)


def render_untrusted_many(source: TemplateSource, contexts: list[dict[str, Any]], *,
                          seconds: float = MAX_RENDER_SECONDS) -> list[Rendered | TemplateRenderError | None]:
    """A tenant's ``source`` rendered with each context in one round trip to the child, each render within its
    own budget (render_child.render_isolated_many; None: not rendered, render it alone)."""
    try:
        _compile_parts(source)
    except TemplateRenderError as exc:
        return [exc for _ in contexts]
    return render_isolated_many(source, contexts, seconds)


def _compile_parts(source: TemplateSource) -> None:
    for part, text, html in (("subject", source.subject, False), ("html", source.html, True),
                             ("text", source.text, False)):
        _compile(text, part=part, html=html)  # a syntax error is answered here (cached), without a round trip


def check_syntax(source: TemplateSource) -> None:
    for part, text, html in (("subject", source.subject, False), ("html", source.html, True),
                             ("text", source.text, False)):
        if text is None:
            continue
        try:
            _ENVIRONMENTS[html].parse(text)
        except TemplateError as exc:
            raise TemplateRenderError(str(exc.message or exc), part=part, line=getattr(exc, "lineno", None)) from None


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
    """Syntax and static safety of every part, checked when a template is saved or sent; raises TemplateRenderError.

    A static refusal of the constructs SSTI payloads rely on (underscore attributes, the `attr` filter).
    """
    check_syntax(source)
    for part, text in (("subject", source.subject), ("html", source.html), ("text", source.text)):
        if text is None:
            continue
        try:
            tree = _PARSER.parse(text)
        except TemplateSyntaxError as exc:
            raise TemplateRenderError(str(exc.message), part=part, line=exc.lineno) from None
        for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Filter)):
            reason = _refusal(node)
            if reason:
                raise TemplateRenderError(reason, part=part, line=node.lineno)


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def builtin_names() -> list[str]:
    if not os.path.isdir(BUILTIN_DIR):
        return []
    return sorted(n for n in os.listdir(BUILTIN_DIR) if os.path.isdir(os.path.join(BUILTIN_DIR, n)))


def load_builtin(name: str) -> TemplateSource | None:
    if name not in builtin_names():
        return None
    folder = os.path.join(BUILTIN_DIR, name)
    subject = _read(os.path.join(folder, "subject.txt"))
    if subject is None:
        return None
    return TemplateSource(subject.strip(), _read(os.path.join(folder, "body.html")),
                          _read(os.path.join(folder, "body.txt")), trusted=True)


@functools.lru_cache(maxsize=1)
def _builtin_sources() -> frozenset[TemplateSource]:
    return frozenset(source for name in builtin_names() if (source := load_builtin(name)) is not None)


def as_builtin(source: TemplateSource) -> TemplateSource:
    """``source`` marked trusted when its parts are a built-in template's, as a broadcast freezes one: our code,
    rendered in-process like the built-in itself, not in the child a tenant's template needs."""
    if source.trusted or source not in _builtin_sources():  # equality ignores `trusted`
        return source
    return TemplateSource(source.subject, source.html, source.text, trusted=True)


def tenant_template(tenant_id: uuid.UUID, name: str) -> Template | None:
    """The tenant's own stored template of that name (not a built-in one)."""
    return db.session.scalars(select(Template).where(Template.tenant_id == tenant_id, Template.name == name)).first()


def template_variant(tenant_id: uuid.UUID, name: str, locale: str) -> TemplateVariant | None:
    """The tenant's `locale` variant of the template `name` (API.md §14), if it stored one."""
    return db.session.scalars(select(TemplateVariant).where(
        TemplateVariant.tenant_id == tenant_id, TemplateVariant.name == name, TemplateVariant.locale == locale,
    )).first()


def template_variants(tenant_id: uuid.UUID, name: str) -> dict[str, TemplateSource]:
    """Every language variant of the tenant's template `name`, by locale."""
    rows = db.session.scalars(select(TemplateVariant).where(
        TemplateVariant.tenant_id == tenant_id, TemplateVariant.name == name).order_by(TemplateVariant.locale))
    return {row.locale: TemplateSource(row.subject, row.html, row.text) for row in rows}


def tenant_context(tenant: Tenant) -> dict[str, Any]:
    """What every template is told of the tenant it is rendered for: its name and slug, and its branding
    (API.md §14; the colour is the default one when the tenant set none, with a legible text colour on it)."""
    color = tenant.brand_color or DEFAULT_BRAND_COLOR
    return {"tenant": {"name": tenant.name, "slug": tenant.slug, "brand_color": color,
                       "brand_text_color": text_color_on(color), "logo_url": tenant.logo_url,
                       "postal_address": tenant.postal_address}}


def reader_locale(config: Config, tenant: Tenant, locale: str | None) -> str:
    """The language a person reads (API.md §14): their own `locale`, else the tenant's default, else DEFAULT_LOCALE."""
    return locale or tenant.default_locale or config.DEFAULT_LOCALE


def text_color_on(background: str) -> str:
    """Black or white, whichever reads better on ``background`` (#rrggbb), by WCAG relative luminance."""
    channels = [int(background[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    luminance = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    return "#111827" if luminance > 0.179 else "#ffffff"


def find_template(tenant_id: uuid.UUID, name: str, locale: str | None = None) -> TemplateSource:
    """The tenant's `locale` variant of `name` when there is one, else the tenant's template of that name,
    else the built-in one; TemplateNotFoundError otherwise."""
    if locale is not None and (variant := template_variant(tenant_id, name, locale)) is not None:
        return TemplateSource(variant.subject, variant.html, variant.text)
    row = tenant_template(tenant_id, name)
    if row is not None:
        return TemplateSource(row.subject, row.html, row.text)
    builtin = load_builtin(name)
    if builtin is None:
        raise TemplateNotFoundError(name)
    return builtin

