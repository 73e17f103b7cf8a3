"""Checks a message before anything is queued. Each violation names its field."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email

MAX_SUBJECT = 998
_FORBIDDEN_HEADERS = {"from", "to", "cc", "bcc", "message-id", "date", "sender", "reply-to", "subject"}
_HEADER_NAME = re.compile(r"^[!-9;-~]+$")


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str


class MessageValidationError(Exception):
    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = errors


class MessageTooLargeError(MessageValidationError):
    pass


def _fail(field: str, message: str) -> MessageValidationError:
    return MessageValidationError([FieldError(field, message)])


def check_header_value(value: str, *, field: str) -> str:
    if "\r" in value or "\n" in value:
        raise _fail(field, "must not contain CR or LF")
    return value


def check_display_name(value: str, *, field: str) -> str:
    return check_header_value(value, field=field)


def check_subject(value: str, *, field: str = "subject") -> str:
    check_header_value(value, field=field)
    if len(value) > MAX_SUBJECT:
        raise _fail(field, f"at most {MAX_SUBJECT} characters")
    return value


def normalize_address(value: str, *, field: str) -> str:
    check_header_value(value, field=field)
    try:
        # test_environment admits the reserved .test domain (used in docs and tests); no DNS either way.
        result = validate_email(value, check_deliverability=False, allow_smtputf8=True, test_environment=True)
    except EmailNotValidError as exc:
        raise _fail(field, str(exc)) from None
    address = f"{result.local_part}@{result.ascii_domain}"
    if len(address) > 254:
        raise _fail(field, "at most 254 characters")
    if len(result.local_part) > 64:
        raise _fail(field, "local part at most 64 characters")
    return address


def check_custom_headers(headers: dict[str, str], *, field: str = "headers") -> tuple[tuple[str, str], ...]:
    checked = []
    for name, value in headers.items():
        path = f"{field}.{name}"
        if not _HEADER_NAME.match(name) or not name.lower().startswith("x-"):
            raise _fail(path, "only X- headers may be set")
        if name.lower() in _FORBIDDEN_HEADERS:
            raise _fail(path, "this header cannot be set")
        checked.append((name, check_header_value(str(value), field=path)))
    return tuple(checked)


def decode_attachment(content: str, *, field: str) -> bytes:
    try:
        return base64.b64decode(content, validate=True)
    except (binascii.Error, ValueError):
        raise _fail(field, "not valid base64") from None


def check_recipient_count(count: int, max_recipients: int, *, field: str = "to") -> None:
    if not 1 <= count <= max_recipients:
        raise _fail(field, f"between 1 and {max_recipients} recipients in to, cc and bcc together")


def check_size(wire: bytes, max_bytes: int) -> None:
    if len(wire) > max_bytes:
        raise MessageTooLargeError([FieldError("body", f"the encoded message exceeds {max_bytes} bytes")])
