"""What a sending request asks to send: a named template, or its own subject/text/html (never both)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from mailer.errors import ValidationError
from mailer.mail.templates import TemplateNotFoundError, TemplateSource, find_template


@dataclass(frozen=True)
class RequestedContent:
    source: TemplateSource
    named: bool  # a stored or built-in template (rendered), not the request's own text


def requested_content(
    tenant_id: uuid.UUID, template: str | None, subject: str | None, text: str | None, html: str | None,
    locale: str | None = None,
) -> RequestedContent:
    """The tenant's (or the built-in) template named (its `locale` variant when there is one), else the inline
    parts; ValidationError (422) naming the field."""
    if template is not None:
        if subject is not None or text is not None or html is not None:
            raise ValidationError(errors=[{"field": "template", "message": "give a template or subject/text/html"}])
        try:
            return RequestedContent(find_template(tenant_id, template, locale), named=True)
        except TemplateNotFoundError:
            raise ValidationError(errors=[{"field": "template", "message": f"no template named {template!r}"}]
                                  ) from None
    if text is None and html is None:
        raise ValidationError(errors=[{"field": "text", "message": "text, html or template is required"}])
    if subject is None:
        raise ValidationError(errors=[{"field": "subject", "message": "required"}])
    return RequestedContent(TemplateSource(subject, html, text), named=False)
