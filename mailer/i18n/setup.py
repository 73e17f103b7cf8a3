"""Flask-Babel wired to §14's order: the signed-in person's language, `?lang=`, the `lang` cookie,
Accept-Language, the tenant's `default_locale`, then DEFAULT_LOCALE.

A door that knows more (the console's signed-in user, a hosted page's tenant) says so by setting
``g.user_locale`` or ``g.tenant_locale`` before rendering; nothing here reads the database.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from babel import support
from flask import Flask, Response, current_app, g, has_app_context, has_request_context, request
from flask_babel import Babel, Domain, force_locale, get_locale, get_translations

from mailer.config import ROOT
from mailer.i18n.locales import SUPPORTED_LOCALES, babel_name, lookup, negotiate_header

LANG_COOKIE = "lang"
TRANSLATIONS_DIR = f"{ROOT}/translations"


class CatalogDomain(Domain):
    """Our catalogs, found by language and territory.

    Babel names Simplified Chinese `zh_Hans_CN`, and Flask-Babel looks a catalog up by that name only
    (gettext then tries `zh_Hans_CN` and `zh`): our `translations/zh_CN` would never be found.
    """

    def __init__(self) -> None:
        super().__init__(translation_directories=[TRANSLATIONS_DIR])
        self._catalogs: dict[str, support.NullTranslations] = {}

    def get_translations(self) -> support.NullTranslations:
        locale = get_locale() if has_app_context() else None
        if locale is None:
            return support.NullTranslations()
        key = str(locale)
        if key not in self._catalogs:
            names = [key, f"{locale.language}_{locale.territory}", locale.language] if locale.territory \
                else [key, locale.language]
            self._catalogs[key] = support.Translations.load(TRANSLATIONS_DIR, names, "messages")
        return self._catalogs[key]


def init_i18n(app: Flask) -> None:
    """Flask-Babel with our catalogs; `?lang=` is remembered in the `lang` cookie."""
    babel = Babel(app, locale_selector=_selected_babel_locale, default_translation_directories=TRANSLATIONS_DIR)
    babel.domain_instance = CatalogDomain()  # type: ignore[misc]
    app.after_request(_remember_lang_choice)


def request_locale() -> str:
    """The locale this request renders in (§14's order), one of SUPPORTED_LOCALES."""
    default = _default_locale()
    if not has_request_context():
        return default
    chosen = (
        g.get("user_locale")
        or lookup(request.args.get("lang"))
        or lookup(request.cookies.get(LANG_COOKIE))
        or negotiate_header(request.accept_languages)
        or g.get("tenant_locale")
    )
    return chosen if chosen in SUPPORTED_LOCALES else default


@contextmanager
def rendered_in(locale: str | None) -> Iterator[None]:
    """Gettext, dates and numbers in `locale` (a worker writing one person's mail), else the default."""
    chosen = locale if locale in SUPPORTED_LOCALES else _default_locale()
    with force_locale(babel_name(chosen)):
        yield


def catalog(locale: str | None) -> support.NullTranslations:
    """The catalog gettext reads inside ``rendered_in(locale)``: for a caller rendering many times in one language
    (a broadcast's copies), which then need not enter that context, and look the catalog up, per render."""
    with rendered_in(locale):
        return get_translations()


def _default_locale() -> str:
    return current_app.config["MAILER"].DEFAULT_LOCALE


def _selected_babel_locale() -> str:
    return babel_name(request_locale())


def _remember_lang_choice(response: Response) -> Response:
    chosen = lookup(request.args.get("lang"))
    if chosen and request.cookies.get(LANG_COOKIE) != chosen:
        response.set_cookie(LANG_COOKIE, chosen, max_age=365 * 24 * 3600, samesite="Lax", httponly=True,
                            secure=not current_app.debug and request.is_secure)
    return response
