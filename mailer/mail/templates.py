"""Renders email templates in a Jinja2 sandbox (mail/sandbox.py), bounded in time, size and depth.

HTML parts are autoescaped; subject and text parts are not (they are not HTML).
Undefined variables are errors. A tenant's template overrides the built-in one of
the same name (top-level templates/email/<name>/{subject.txt,body.html,body.txt}).
"""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import jinja2
from jinja2 import Environment, TemplateError, TemplateSyntaxError, nodes
from jinja2.sandbox import SecurityError
from sqlalchemy import select

from mailer.config import ROOT
from mailer.extensions import db
from mailer.mail.sandbox import TEMPLATE_FILE, BoundedSandbox, RenderBudget
from mailer.models import Template, Tenant

BUILTIN_DIR = os.path.join(ROOT, "templates", "email")
MAX_OUTPUT_CHARS = 512 * 1024
MAX_RENDER_SECONDS = 2.0
_FORBIDDEN_FILTERS = frozenset({"attr"})
_PARSER = Environment(autoescape=True)  # parsing only; never renders


@dataclass(frozen=True)
class TemplateSource:
    subject: str
    html: str | None = None
    text: str | None = None
    # A built-in template (our code) renders in-process; anything else in a limited child (render_child).
    trusted: bool = field(default=False, compare=False)


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


_ENVIRONMENTS = {True: BoundedSandbox(autoescape=True), False: BoundedSandbox(autoescape=False)}


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
    """Render every part within one budget of time and size. Raises TemplateRenderError naming the part and line.

    A template a tenant wrote renders in a child process with memory and CPU limits and a hard kill (N2).
    """
    if source.trusted:
        return render_in_process(source, context, seconds=seconds)
    for part, text, html in (("subject", source.subject, False), ("html", source.html, True),
                             ("text", source.text, False)):
        _compile(text, part=part, html=html)  # a syntax error is answered here (cached), without a round trip
    from mailer.mail.render_child import render_isolated  # noqa: PLC0415 - it imports this module

    return render_isolated(source, context, seconds)


def render_in_process(source: TemplateSource, context: dict[str, Any], *,
                      seconds: float = MAX_RENDER_SECONDS) -> Rendered:
    """``render`` in this process: for built-in templates, and inside the render child."""
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
                          _read(os.path.join(folder, "body.txt")), trusted=True)


def tenant_template(tenant_id: uuid.UUID, name: str) -> Template | None:
    """The tenant's own stored template of that name (not a built-in one)."""
    return db.session.scalars(select(Template).where(Template.tenant_id == tenant_id, Template.name == name)).first()


def tenant_context(tenant: Tenant) -> dict[str, Any]:
    """What every template is told of the tenant it is rendered for."""
    return {"tenant": {"name": tenant.name, "slug": tenant.slug}}


def find_template(tenant_id: uuid.UUID, name: str) -> TemplateSource:
    """The tenant's template of that name, else the built-in one; TemplateNotFoundError otherwise."""
    row = tenant_template(tenant_id, name)
    if row is not None:
        return TemplateSource(row.subject, row.html, row.text)
    builtin = load_builtin(name)
    if builtin is None:
        raise TemplateNotFoundError(name)
    return builtin


def iter_parts(rendered: Rendered) -> Iterator[tuple[str, str | None]]:
    yield from (("subject", rendered.subject), ("html", rendered.html), ("text", rendered.text))
