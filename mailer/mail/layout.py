"""The built-in `broadcast` layout (API.md §14) every broadcast copy is wrapped in: the tenant's logo and
colour, the copy's own content, a footer with the tenant's postal address and the unsubscribe link.

The layout is rendered once per broadcast and language, with markers where a copy's subject, content and
unsubscribe link go, and cut at them; a copy is then a join of those pieces (no template work per copy).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

from markupsafe import escape

from mailer.i18n import rendered_in
from mailer.mail.templates import BUILTIN_DIR, Rendered, TemplateSource, render
from mailer.smtp.mime import html_to_text

LAYOUT_DIR = os.path.join(BUILTIN_DIR, "broadcast")
SUBJECT, CONTENT, UNSUBSCRIBE = "@@mailer-subject-5c1e@@", "@@mailer-content-5c1e@@", "@@mailer-unsubscribe-5c1e@@"
_MARKERS = re.compile(f"({re.escape(SUBJECT)}|{re.escape(CONTENT)}|{re.escape(UNSUBSCRIBE)})")
_BODY = re.compile(r"<body\b[^>]*>(.*)</body\s*>", re.IGNORECASE | re.DOTALL)


def _read(name: str) -> str:
    with open(os.path.join(LAYOUT_DIR, name), encoding="utf-8") as handle:
        return handle.read()


@dataclass(frozen=True)
class Layout:
    """The layout of one tenant in one language, cut at its markers: literal text at even positions."""

    html: tuple[str, ...]
    text: tuple[str, ...]

    @classmethod
    def render(cls, tenant_context: dict[str, Any], locale: str) -> Layout:
        """Render the layout for the tenant in ``locale``. Raises TemplateRenderError (a broken built-in)."""
        source = TemplateSource("", _read("layout.html"), _read("layout.txt"), trusted=True)
        context = {**tenant_context, "locale": locale, "subject": SUBJECT, "content": CONTENT,
                   "unsubscribe_url": UNSUBSCRIBE}
        with rendered_in(locale):
            rendered = render(source, context)
        return cls(tuple(_MARKERS.split(rendered.html or "")), tuple(_MARKERS.split(rendered.text or "")))

    def wrap(self, rendered: Rendered, unsubscribe_url: str) -> tuple[str, str]:
        """(html, text) of one copy: its rendered content in the layout, with its own unsubscribe link."""
        content_html = rendered.html if rendered.html is not None else text_as_html(rendered.text or "")
        content_text = rendered.text if rendered.text is not None else html_to_text(rendered.html or "")
        html_values = {SUBJECT: str(escape(rendered.subject)), CONTENT: body_of(content_html),
                       UNSUBSCRIBE: str(escape(unsubscribe_url))}
        text_values = {SUBJECT: rendered.subject, CONTENT: content_text.rstrip("\n"), UNSUBSCRIBE: unsubscribe_url}
        return _fill(self.html, html_values), _fill(self.text, text_values)


def _fill(pieces: tuple[str, ...], values: dict[str, str]) -> str:
    return "".join(piece if i % 2 == 0 else values[piece] for i, piece in enumerate(pieces))


def body_of(html: str) -> str:
    """What a whole HTML document shows (its <body>'s inside), or the fragment as it is."""
    found = _BODY.search(html)
    return found.group(1) if found else html


def text_as_html(text: str) -> str:
    """A plain-text copy as HTML paragraphs, escaped."""
    paragraphs = [p.strip("\n") for p in text.replace("\r\n", "\n").split("\n\n") if p.strip()]
    return "".join(f"<p>{str(escape(p)).replace(chr(10), '<br>')}</p>" for p in paragraphs)
