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
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import jinja2
from flask_babel import get_translations
from jinja2 import Environment, TemplateError, TemplateSyntaxError, nodes
from jinja2.sandbox import SecurityError
from sqlalchemy import select

from mailer.config import ROOT, Config
from mailer.extensions import db
from mailer.mail.sandbox import TEMPLATE_FILE, BoundedSandbox, RenderBudget
from mailer.models import Template, TemplateVariant, Tenant

BUILTIN_DIR = os.path.join(ROOT, "templates", "email")
MAX_OUTPUT_CHARS = 512 * 1024
MAX_RENDER_SECONDS = 2.0
_FORBIDDEN_FILTERS = frozenset({"attr"})
_PARSER = Environment(autoescape=True, extensions=["jinja2.ext.i18n"])  # parsing only; never renders


@dataclass(frozen=True)
class TemplateSource:
    subject: str
    html: str | None = None
    text: str | None = None


@dataclass(frozen=True)
class Rendered:
    subject: str
    html: str | None
    text: str | None


class TemplateRenderError(Exception):
    """A template that cannot be compiled or rendered; `part` and `line` say where."""

    def __init__(self, message: str, *, part: str, line: int | None = None) -> None:
        where = f"{part}, line {line}" if line else part
        super().__init__(f"{where}: {message}")
        self.message, self.part, self.line = message, part, line


class TemplateNotFoundError(LookupError):
    pass


DEFAULT_BRAND_COLOR = "#2563eb"


def _gettext(message: str) -> str:
    return get_translations().ugettext(message)


def _ngettext(singular: str, plural: str, count: int) -> str:
    return get_translations().ungettext(singular, plural, count)


def _environment(*, autoescape: bool) -> BoundedSandbox:
    """The sandbox with gettext: catalog strings in the caller's ``rendered_in`` language, variables escaped."""
    environment = BoundedSandbox(autoescape=autoescape)
    environment.add_extension("jinja2.ext.i18n")
    environment.install_gettext_callables(_gettext, _ngettext, newstyle=True)  # type: ignore[attr-defined]
    return environment


_ENVIRONMENTS = {True: _environment(autoescape=True), False: _environment(autoescape=False)}


def _template_line(tb: TracebackType | None) -> int | None:
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == TEMPLATE_FILE:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


@functools.lru_cache(maxsize=64)
def _compiled(source: str, html: bool) -> jinja2.Template:
    """Compiled once per source: a broadcast renders the same template for every recipient."""
    return _ENVIRONMENTS[html].from_string(source)


def _compile(source: str | None, *, part: str, html: bool) -> jinja2.Template | None:
    if source is None:
        return None
    try:
        return _compiled(source, html)
    except TemplateError as exc:
        raise TemplateRenderError(str(exc.message or exc), part=part, line=getattr(exc, "lineno", None)) from None


def _render_part(template: jinja2.Template | None, context: dict[str, Any], *, part: str) -> str | None:
    if template is None:
        return None
    chunks: list[str] = []
    size = 0
    try:
        for chunk in template.generate(context):
            size += len(chunk)
            if size > MAX_OUTPUT_CHARS:
                raise TemplateRenderError("output too large", part=part)
            chunks.append(chunk)
    except TemplateRenderError:
        raise
    except SecurityError as exc:
        raise TemplateRenderError(f"not allowed: {exc}", part=part, line=_template_line(exc.__traceback__)) from None
    except TimeoutError as exc:
        raise TemplateRenderError(str(exc), part=part) from None
    except RecursionError:
        raise TemplateRenderError("recursion too deep", part=part) from None
    except MemoryError:
        raise TemplateRenderError("out of memory", part=part) from None
    except Exception as exc:  # whatever template code raises is the template's fault, never a 500 or a stuck job
        message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        raise TemplateRenderError(message, part=part, line=_template_line(exc.__traceback__)) from None
    return "".join(chunks)


def render(source: TemplateSource, context: dict[str, Any], *, seconds: float = MAX_RENDER_SECONDS) -> Rendered:
    """Render every part within one budget of time and size. Raises TemplateRenderError naming the part and line."""
    subject_template = _compile(source.subject, part="subject", html=False)
    html_template = _compile(source.html, part="html", html=True)
    text_template = _compile(source.text, part="text", html=False)
    with RenderBudget(seconds):
        subject = _render_part(subject_template, context, part="subject") or ""
        return Rendered(
            subject=" ".join(subject.split()),  # a subject is one line, whatever the template did
            html=_render_part(html_template, context, part="html"),
            text=_render_part(text_template, context, part="text"),
        )


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
                          _read(os.path.join(folder, "body.txt")))


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


def iter_parts(rendered: Rendered) -> Iterator[tuple[str, str | None]]:
    yield from (("subject", rendered.subject), ("html", rendered.html), ("text", rendered.text))
