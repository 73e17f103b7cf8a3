"""Languages (API.md §14): the supported locales, RFC 4647 lookup, and Flask-Babel's set-up.

The pipeline, services, pages and console all import from here: it imports nothing of ours but the
config, so any layer may use it (``force_locale`` renders account mail in a worker in its reader's language).
"""

from __future__ import annotations

from mailer.i18n.locales import DEFAULT_LOCALE, SUPPORTED_LOCALES, Locale, babel_name, lookup, negotiate_header
from mailer.i18n.setup import catalog, init_i18n, rendered_in, request_locale

__all__ = [
    "DEFAULT_LOCALE",
    "SUPPORTED_LOCALES",
    "Locale",
    "babel_name",
    "catalog",
    "init_i18n",
    "lookup",
    "negotiate_header",
    "rendered_in",
    "request_locale",
]
