"""Checks a message's parts before anything is queued (API.md §3).

Every check raises :class:`MessageValidationError` naming the offending field
(``to[2]``, ``subject``, ``headers.X-Foo``, ``attachments[0].content``), except the
size check, which raises the distinct :class:`MessageTooLargeError` (the API answers
413 for it, 422 for the others). Use :class:`ErrorCollector` to report every violation
of a request at once. Nothing here knows Flask.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from email_validator import EmailNotValidError, validate_email

MAX_ADDRESS_LENGTH = 254
MAX_LOCAL_PART_LENGTH = 64
MAX_HEADER_LINE = 998
MAX_DISPLAY_NAME_LENGTH = 256
MAX_CUSTOM_HEADERS = 50

# RFC 7230 token characters: a safe subset of RFC 5322 ftext for header names.
_HEADER_NAME = re.compile(r"X-[!#$%&'*+\-.^_`|~0-9A-Za-z]+", re.IGNORECASE)
_CONTENT_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}")
# CR, LF and NUL split or truncate header lines; the other C0 controls have no place in them. NEL and
# the Unicode line and paragraph separators are line breaks to str.splitlines(), which the email
# package uses to fold headers (it refuses them with a ValueError).
_FORBIDDEN_IN_HEADER = re.compile("[\x00-\x08\x0a-\x1f\x7f\x85\u2028\u2029]")

T = TypeVar("T")


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str


class MessageValidationError(Exception):
    """One or more fields of a message are invalid; ``errors`` names each."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{error.field}: {error.message}" for error in errors))
        self.errors = errors

    @classmethod
    def single(cls, field: str, message: str) -> MessageValidationError:
        return cls([FieldError(field, message)])


class MessageTooLargeError(Exception):
    """The built message is over the limit (the API answers 413 payload_too_large)."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"message is {size} bytes, over the limit of {limit}")
        self.size = size
        self.limit = limit


class ErrorCollector:
    """Runs checks and gathers their field errors, so a request learns all of them at once."""

    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def check(self, step: Callable[..., T], *args: object, **kwargs: object) -> T | None:
        """``step(*args, **kwargs)``, or None after recording its field errors."""
        try:
            return step(*args, **kwargs)
        except MessageValidationError as exc:
            self.errors.extend(exc.errors)
            return None

    def raise_if_any(self) -> None:
        if self.errors:
            raise MessageValidationError(list(self.errors))


def normalize_address(value: str, *, field: str) -> str:
    """The address in its envelope form: local part as given, domain in IDNA ASCII.

    Raises MessageValidationError for bad syntax, CR/LF, over 254 chars or a local part
    over 64 octets. A non-ASCII local part stays (it needs SMTPUTF8 at delivery).
    """
    if not isinstance(value, str) or not value:
        raise MessageValidationError.single(field, "must be a non-empty string")
    # A value this long fails anyway; it is checked uncached so that the cache never holds huge strings.
    address, problem = _checked(value) if len(value) > 2 * MAX_ADDRESS_LENGTH else _normalized(value)
    if problem:
        raise MessageValidationError.single(field, problem)
    return address


@functools.lru_cache(maxsize=4096)
def _normalized(value: str) -> tuple[str, str]:
    """_checked, remembered: email_validator costs ~0.1 ms an address, and a sender comes back again and again
    (MAIL FROM and the From header of every message a session submits)."""
    return _checked(value)


def _checked(value: str) -> tuple[str, str]:
    """(address, "") or ("", what is wrong); the caller names the field, so one result serves every field."""
    if _FORBIDDEN_IN_HEADER.search(value):
        return "", "must not contain control characters or line breaks"
    try:
        # test_environment admits the reserved .test domain (used in docs and tests); there is no DNS check anyway.
        checked = validate_email(value, check_deliverability=False, allow_smtputf8=True, test_environment=True)
    except EmailNotValidError as exc:
        return "", f"not a valid email address: {exc}"
    address = f"{checked.local_part}@{checked.ascii_domain}"
    if len(checked.local_part.encode()) > MAX_LOCAL_PART_LENGTH:
        return "", f"local part is longer than {MAX_LOCAL_PART_LENGTH} octets"
    if len(address.encode()) > MAX_ADDRESS_LENGTH:
        return "", f"address is longer than {MAX_ADDRESS_LENGTH} octets"
    return address, ""


def check_header_value(value: str, *, field: str, max_length: int = MAX_HEADER_LINE) -> str:
    """The value unchanged if it is a string without line breaks or control characters."""
    if not isinstance(value, str):
        raise MessageValidationError.single(field, "must be a string")
    if _FORBIDDEN_IN_HEADER.search(value):
        raise MessageValidationError.single(field, "must not contain line breaks or control characters")
    if len(value) > max_length:
        raise MessageValidationError.single(field, f"must be at most {max_length} characters")
    return value


def check_subject(value: str, *, field: str = "subject") -> str:
    return check_header_value(value, field=field, max_length=MAX_HEADER_LINE)


def check_display_name(value: str, *, field: str) -> str:
    return check_header_value(value, field=field, max_length=MAX_DISPLAY_NAME_LENGTH)


def check_custom_headers(headers: Mapping[str, str], *, field: str = "headers") -> tuple[tuple[str, str], ...]:
    """The caller's extra headers as pairs; only ``X-`` names, each once, values one line.

    Every other name (From, To, Cc, Bcc, Message-ID, Date, Content-Type...) is refused,
    so a caller can never override what the service sets.
    """
    if not isinstance(headers, Mapping):
        raise MessageValidationError.single(field, "must be an object of header names to values")
    if len(headers) > MAX_CUSTOM_HEADERS:
        raise MessageValidationError.single(field, f"at most {MAX_CUSTOM_HEADERS} headers")
    collector = ErrorCollector()
    pairs: list[tuple[str, str]] = []
    seen: set[str] = set()
    for name, value in headers.items():
        path = f"{field}.{name}"
        if not isinstance(name, str) or not _HEADER_NAME.fullmatch(name):
            collector.errors.append(FieldError(path, "only X- headers made of letters, digits and -_. are allowed"))
            continue
        if name.lower() in seen:
            collector.errors.append(FieldError(path, "header given twice"))
            continue
        seen.add(name.lower())
        # The value shares its 998-char line with the name and ": ".
        checked = collector.check(check_header_value, value, field=path, max_length=MAX_HEADER_LINE - len(name) - 2)
        if checked is not None:
            pairs.append((name, checked))
    collector.raise_if_any()
    return tuple(pairs)


def check_content_type(value: str, *, field: str) -> str:
    if not isinstance(value, str) or not _CONTENT_TYPE.fullmatch(value):
        raise MessageValidationError.single(field, "must be a MIME type such as application/pdf")
    return value.lower()


def check_filename(value: str, *, field: str) -> str:
    check_header_value(value, field=field, max_length=255)
    if not value.strip() or "/" in value or "\\" in value:
        raise MessageValidationError.single(field, "must be a plain file name")
    return value


def decode_attachment(content_b64: str, *, field: str) -> bytes:
    """Strict, canonical base64: no line breaks, stray characters, or extra padding."""
    if not isinstance(content_b64, str):
        raise MessageValidationError.single(field, "must be a base64 string")
    try:
        data = base64.b64decode(content_b64, validate=True)
    except (binascii.Error, ValueError):
        raise MessageValidationError.single(field, "is not valid base64") from None
    # b64decode forgives surplus "=" and non-zero padding bits; the round trip does not.
    if base64.b64encode(data).decode("ascii") != content_b64:
        raise MessageValidationError.single(field, "is not valid base64")
    return data


def check_recipient_count(n: int, max_recipients: int, *, field: str = "to") -> int:
    """to + cc + bcc together must be between 1 and ``max_recipients``."""
    if n < 1:
        raise MessageValidationError.single(field, "at least one recipient is required")
    if n > max_recipients:
        raise MessageValidationError.single(field, f"at most {max_recipients} recipients (to, cc and bcc together)")
    return n


def check_size(wire_bytes: bytes, max_bytes: int) -> int:
    """The encoded size; raises MessageTooLargeError when over ``max_bytes``."""
    size = len(wire_bytes)
    if size > max_bytes:
        raise MessageTooLargeError(size, max_bytes)
    return size
