"""What every hosted page (verify, reset, unsubscribe) shows around its content (API.md §14): the tenant's
logo and colour, the page in the reader's language by §14's order, and a language switch.

A page without a signed-in person names its tenant's `default_locale` (`g.tenant_locale`) before anything is
rendered; `?lang=`, the `lang` cookie and Accept-Language come first (mailer/i18n/setup.py).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode, urlsplit

from flask import g, request
from flask_babel import refresh

from mailer.i18n import SUPPORTED_LOCALES, request_locale
from mailer.mail.templates import DEFAULT_BRAND_COLOR, tenant_context, text_color_on
from mailer.models import Tenant

# Each language by its own name: a reader who cannot read the page can still find theirs.
LANGUAGE_NAMES = {"en": "English", "zh-CN": "简体中文"}
_CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"


def page_context(tenant: Tenant | None) -> dict[str, Any]:
    """Set the page's language from the tenant and give the template `brand`, `page_locale` and `languages`."""
    if tenant is not None:
        g.tenant_locale = tenant.default_locale
        refresh()  # the language is chosen anew with the tenant's default known
        brand = tenant_context(tenant)["tenant"]
    else:
        brand = {"name": "", "brand_color": DEFAULT_BRAND_COLOR, "brand_text_color": text_color_on(DEFAULT_BRAND_COLOR),
                 "logo_url": None}
    g.page_logo_url = brand["logo_url"]
    current = request_locale()
    languages = [{"code": code, "name": LANGUAGE_NAMES[code], "current": code == current,
                  "url": f"{request.path}?{urlencode({**request.args.to_dict(), 'lang': code})}"}
                 for code in SUPPORTED_LOCALES]
    return {"brand": brand, "page_locale": current, "languages": languages}


def page_policy() -> str:
    """The pages' Content-Security-Policy: nothing loads but the tenant's logo, from its own https origin."""
    logo = g.get("page_logo_url")
    if not logo:
        return _CSP
    parts = urlsplit(logo)
    return f"{_CSP}; img-src {parts.scheme}://{parts.netloc}"
