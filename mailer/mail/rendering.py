"""The core of rendering a template in the bounded sandbox: no database, no app (mail/render_child.py imports
only this, and errors.py for TemplateRenderError, so a render child starts fast). HTML parts are autoescaped;
subject and text parts are not."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import jinja2
from babel.support import NullTranslations
from flask_babel import get_translations
from jinja2 import TemplateError
from jinja2.sandbox import SecurityError

from mailer.errors import TemplateRenderError
from mailer.mail.sandbox import TEMPLATE_FILE, BoundedSandbox, RenderBudget

MAX_OUTPUT_CHARS = 512 * 1024
MAX_RENDER_SECONDS = 2.0


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


# The catalog gettext reads when a caller set one (translated_by), else Flask-Babel's current one.
_catalog: ContextVar[NullTranslations | None] = ContextVar("catalog", default=None)


@contextmanager
def translated_by(catalog: NullTranslations) -> Iterator[None]:
    """Renders in here read ``catalog`` (i18n.catalog(locale): what ``rendered_in(locale)`` would have them read)."""
    token = _catalog.set(catalog)
    try:
        yield
    finally:
        _catalog.reset(token)


def _translations() -> NullTranslations:
    chosen = _catalog.get()
    return get_translations() if chosen is None else chosen


def _gettext(message: str) -> str:
    return _translations().ugettext(message)


def _ngettext(singular: str, plural: str, count: int) -> str:
    return _translations().ungettext(singular, plural, count)


def _environment(*, autoescape: bool) -> BoundedSandbox:
    """The sandbox with gettext: catalog strings in the caller's ``rendered_in`` language (outside an app, as in
    the render child, the strings as written), variables escaped."""
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


def render_in_process(source: TemplateSource, context: dict[str, Any], *,
                      seconds: float = MAX_RENDER_SECONDS, subject: str | None = None) -> Rendered:
    """``render`` in this process: for built-in templates, and inside the render child. ``subject``: the subject
    this render would give, known already (rendered once for every recipient of a broadcast): not rendered again."""
    subject_template = None if subject is not None else _compile(source.subject, part="subject", html=False)
    html_template = _compile(source.html, part="html", html=True)
    text_template = _compile(source.text, part="text", html=False)
    with RenderBudget(seconds, traced=not source.trusted):
        if subject is None:
            subject = " ".join((_render_part(subject_template, context, part="subject") or "").split())
        return Rendered(
            subject=subject,  # one line, whatever the template did
            html=_render_part(html_template, context, part="html"),
            text=_render_part(text_template, context, part="text"),
        )
