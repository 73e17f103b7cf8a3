"""A tenant's branding (API.md §14): what PATCH /v1/tenant accepts for brand_color, logo_url, postal_address.

The values end up in every built-in mail and hosted page (inline styles, an <img src>, a footer), so they
are held to shapes that cannot break out of an attribute or a style: a colour is exactly `#rrggbb`, a logo
is an https URL without spaces, quotes or angle brackets, an address is printable text.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from mailer.errors import ValidationError

BRAND_COLOR = re.compile(r"#[0-9a-fA-F]{6}")
LOGO_URL = re.compile(r"https://[^\s/?#@\"'<>\\]+(?:[/?#][^\s\"'<>\\]*)?", re.IGNORECASE)
POSTAL_ADDRESS_LINES = 6


def _field_error(field: str, message: str) -> ValidationError:
    return ValidationError("One or more fields are invalid.", errors=[{"field": field, "message": message}])


def _postal_address(value: str) -> str:
    lines = [line.strip() for line in value.strip().splitlines()]
    if len(lines) > POSTAL_ADDRESS_LINES:
        raise _field_error("postal_address", f"at most {POSTAL_ADDRESS_LINES} lines")
    if any(unicodedata.category(ch) in ("Cc", "Cf") for line in lines for ch in line):
        raise _field_error("postal_address", "must not contain control characters")
    return "\n".join(lines)


def check_branding(changes: dict[str, Any]) -> dict[str, Any]:
    """The branding fields of ``changes``, normalised (surrounding spaces dropped, an empty value is None);
    ValidationError (422) naming the field otherwise."""
    checked: dict[str, Any] = {}
    if "brand_color" in changes:
        color = (changes["brand_color"] or "").strip()
        if color and not BRAND_COLOR.fullmatch(color):
            raise _field_error("brand_color", "must be a colour as #rrggbb")
        checked["brand_color"] = color or None
    if "logo_url" in changes:
        url = (changes["logo_url"] or "").strip()
        if url and not LOGO_URL.fullmatch(url):
            raise _field_error("logo_url", "must be an https:// URL")
        checked["logo_url"] = url or None
    if "postal_address" in changes:
        address = _postal_address(changes["postal_address"] or "")
        checked["postal_address"] = address or None
    return checked
