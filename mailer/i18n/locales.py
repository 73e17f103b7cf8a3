"""The supported locales and RFC 4647 "lookup" matching of language ranges to them (§14)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

DEFAULT_LOCALE = "en"
SUPPORTED_LOCALES: tuple[str, ...] = ("en", "zh-CN")
# A `locale` value in a request body or query: exactly one of SUPPORTED_LOCALES, anything else is 422.
Locale = Literal["en", "zh-CN"]

# §14: `zh`, `zh-Hans`, `zh-SG` → zh-CN. Any other Chinese range truncates to `zh` by lookup, so it finds
# zh-CN too: the closest we have.
_ALIASES = {"zh": "zh-CN", "zh-hans": "zh-CN", "zh-sg": "zh-CN", "zh-hans-cn": "zh-CN", "zh-hans-sg": "zh-CN",
            "zh-cn": "zh-CN", "en": "en"}


def lookup(language_range: str | None) -> str | None:
    """The supported locale an RFC 4647 lookup finds for one language range, or None.

    The range is truncated from the right (`en-US-x-foo` → `en-US` → `en`) until a supported tag matches.
    """
    if not language_range:
        return None
    parts = language_range.strip().replace("_", "-").lower().split("-")
    while parts:
        tag = "-".join(parts)
        if tag in _ALIASES:
            return _ALIASES[tag]
        parts.pop()
        if parts and len(parts[-1]) == 1:  # never leave a singleton (`x`, `u`) at the end (RFC 4647 §3.4)
            parts.pop()
    return None


def negotiate_header(accept_language: Iterable[tuple[str, float]]) -> str | None:
    """The first supported locale for the ranges of an Accept-Language header, best quality first."""
    for language_range, quality in sorted(accept_language, key=lambda item: -item[1]):
        if quality <= 0 or language_range == "*":
            continue
        found = lookup(language_range)
        if found:
            return found
    return None


def babel_name(locale: str) -> str:
    """Babel's name for a locale of ours (`zh-CN` → `zh_CN`), for catalogs and number/date formats."""
    return locale.replace("-", "_")
