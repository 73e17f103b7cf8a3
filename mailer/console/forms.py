"""Reading a console form through the API's own request models, and saying what is wrong in words."""

from __future__ import annotations

from typing import Any, TypeVar

from flask import request
from flask_babel import lazy_gettext as _l
from pydantic import BaseModel

from mailer.errors import ValidationError
from mailer.http.json import validate_value
from mailer.smtp.validation import MessageValidationError

T = TypeVar("T", bound=BaseModel)

FIELD_HINTS: dict[str, Any] = {
    "tenant": _l("Enter your organization's short name."),
    "email": _l("Enter a valid email address."),
    "password": _l("Use 8 to 128 characters."),
    "current_password": _l("Enter your current password."),
    "name": _l("Use at most 200 characters, without control characters."),
    "locale": _l("Choose one of the languages offered."),
    "since": _l("Enter a date and time, not after the end."),
    "until": _l("Enter a date and time, not before the start."),
    "tag": _l("Tags are letters, digits, dots, dashes and underscores."),
    "subject": _l("Enter at most 998 characters."),
}
DEFAULT_HINT = _l("Check this field.")


class FormErrors(Exception):
    """Field name → what to fix, in the reader's language."""

    def __init__(self, fields: dict[str, Any]) -> None:
        super().__init__(", ".join(fields))
        self.fields = fields


def hints_for(exc: ValidationError | MessageValidationError) -> dict[str, Any]:
    if isinstance(exc, MessageValidationError):
        names = [e.field for e in exc.errors]
    else:
        names = [str(e.get("field", "")) for e in exc.errors or []]
    fields = {}
    for name in names:
        key = name.split(".")[0].split("[")[0]
        key = "form" if key in ("", "body") else key
        fields[key] = FIELD_HINTS.get(key, DEFAULT_HINT)
    return fields or {"form": DEFAULT_HINT}


def parse_form(model: type[T], names: tuple[str, ...], source: Any = None) -> T:
    """The named fields of the form (or ``source``) validated by the API's model; FormErrors if not.

    Empty optional fields are left out, as a JSON client would leave them out.
    """
    data = source if source is not None else request.form
    values = {name: data.get(name) for name in names if data.get(name) not in (None, "")}
    try:
        return validate_value(model, values)
    except ValidationError as exc:
        raise FormErrors(hints_for(exc)) from None
