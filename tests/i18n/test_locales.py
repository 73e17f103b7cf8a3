"""Language ranges match our locales by RFC 4647 lookup (API.md §14)."""

from __future__ import annotations

import pytest

from mailer.i18n import lookup, negotiate_header


@pytest.mark.parametrize(("language_range", "expected"), [
    ("en", "en"), ("en-US", "en"), ("EN-gb", "en"), ("zh", "zh-CN"), ("zh-Hans", "zh-CN"), ("zh-SG", "zh-CN"),
    ("zh-CN", "zh-CN"), ("zh-Hans-CN", "zh-CN"), ("zh_CN", "zh-CN"), ("zh-Hant", "zh-CN"), ("zh-TW", "zh-CN"),
    ("fr", None), ("", None), (None, None), ("en-x-private", "en"),
])
def test_lookup(language_range: str | None, expected: str | None) -> None:
    """`en-US` → `en`; `zh`, `zh-Hans`, `zh-SG` (and any other Chinese range) → `zh-CN`; others: none."""
    assert lookup(language_range) == expected


def test_accept_language_takes_the_best_supported_range() -> None:
    """Quality order decides; unsupported and q=0 ranges are passed over."""
    assert negotiate_header([("fr", 1.0), ("zh-TW", 0.9), ("en", 0.5)]) == "zh-CN"
    assert negotiate_header([("en", 0.0), ("de", 1.0)]) is None
    assert negotiate_header([("*", 1.0)]) is None
