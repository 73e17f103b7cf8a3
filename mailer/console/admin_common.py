"""What the admin pages share: a service's refusal in words saying what to do, a page of rows, dates."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from flask import request
from flask_babel import format_datetime
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select

from mailer.console.forms import DEFAULT_HINT, FormErrors, hints_for
from mailer.console.routes import bp
from mailer.errors import MailerError, ValidationError
from mailer.extensions import db
from mailer.mail.templates import TemplateRenderError
from mailer.smtp.validation import MessageValidationError

PER_PAGE = 50
# What to do about a field the API refused, for the fields of the admin pages (the frame's own are in forms.py).
HINTS: dict[str, Any] = {
    "url": _l("Use an https:// address of a public host (http:// and private hosts only where the operator "
              "allows them)."),
    "events": _l("Choose at least one event."),
    "description": _l("Use at most 500 characters."),
    "audience": _l("No active user matches this audience: choose other roles, or include unverified users."),
    "roles": _l("Choose at least one role."),
    "template": _l("Choose a template, or leave it empty and write a subject with HTML or text, not both."),
    "text": _l("Write HTML or text, or choose a template."),
    "html": _l("Write HTML or text, or choose a template."),
    "data": _l('Enter a JSON object such as {"name": "Ann"}, at most 64 KiB.'),
    "send_at": _l("Choose a time within the next 7 days, or leave it empty to send now."),
    "mail_from": _l("Use an address on one of the organization's verified sending domains, or on the "
                    "service's own domain."),
    "mail_from_name": _l("Use at most 200 characters, without control characters."),
    "frontend_url": _l("Use an http:// or https:// address."),
    "retention_days": _l("Enter a whole number of days, from 1 to the service's limit, or leave it empty."),
    "host": _l("Enter the relay's host name; private and loopback addresses are refused unless the operator "
               "allows them."),
    "port": _l("Enter a port from 1 to 65535."),
    "encryption": _l("Choose STARTTLS or SSL: a username and password are only sent over TLS."),
    "username": _l("Enter a username of at most 254 characters."),
    "role": _l("The organization must keep at least one active administrator."),
    "is_active": _l("The organization must keep at least one active administrator."),
    "scope": _l("Choose one of the scopes offered."),
    "signup_enabled": _l("Choose whether sign-up is open."),
    "default_locale": _l("Choose English or Simplified Chinese, or the service's default."),
    "brand_color": _l("Enter a colour as # and six hexadecimal digits, such as #1a73e8, or leave it empty."),
    "logo_url": _l("Enter an https:// address of an image, without spaces or quotes, or leave it empty."),
    "postal_address": _l("Use at most 6 lines and 500 characters, without control characters."),
}
Problem = FormErrors | ValidationError | MessageValidationError | TemplateRenderError


def problems(exc: Problem, **overrides: Any) -> dict[str, Any]:
    """Field → what to fix, in the reader's language; a template's error names its part and line."""
    if isinstance(exc, TemplateRenderError):
        where = (_("%(part)s, line %(line)s", part=exc.part, line=exc.line) if exc.line else exc.part)
        return {exc.part if exc.part in ("subject", "html", "text") else "form":
                _("The template cannot be rendered (%(where)s): %(message)s. Correct it and try again.",
                  where=where, message=exc.message)}
    fields = exc.fields if isinstance(exc, FormErrors) else hints_for(exc)
    hints = {**HINTS, **overrides}
    return {name: hints[name] if name in hints and (hint is DEFAULT_HINT or name in overrides) else hint
            for name, hint in fields.items()}


def refusal(exc: MailerError) -> str:
    """A refusal other than a field's (quota, rate limit, unavailable), in words."""
    if exc.status == 429:
        return _("Too many requests, or the organization's daily quota is used up. Try again later.")
    if exc.status == 503:
        return _("A service this needs is unavailable right now. Nothing was changed; try again shortly.")
    return _("This could not be done (%(code)s).", code=exc.code)


def json_object(text: str, field: str = "data") -> dict[str, Any]:
    """A form's JSON text as an object (empty: {}); FormErrors naming the field if it is not one."""
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise FormErrors({field: HINTS["data"]})
    return value


def page_of(query: Select[Any], *, rows: bool = False) -> tuple[list[Any], int, bool]:
    """(items, page, whether there is an older page) for ``?page=``; one row more than shown, no count."""
    try:
        page = max(1, int(request.args.get("page", "1")))
    except ValueError:
        page = 1
    query = query.limit(PER_PAGE + 1).offset((page - 1) * PER_PAGE)
    items = list(db.session.execute(query).all() if rows else db.session.scalars(query))
    return items[:PER_PAGE], page, len(items) > PER_PAGE


@bp.app_template_filter("when")
def when(value: datetime | None) -> str:
    return format_datetime(value, "medium") if value else "—"
