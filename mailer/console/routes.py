"""The console blueprint: its hooks (session, CSRF, headers), the layout's globals and its error pages.

Pages live in the package's other modules (auth_pages, overview, messages, account), which add their
views to ``bp``; each parses the form, calls the service the API calls, and renders.
"""

from __future__ import annotations

import base64
import hashlib
import os
from functools import cache
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, render_template, request, url_for
from flask_babel import lazy_gettext as _l

from mailer.config import ROOT
from mailer.console import guard
from mailer.errors import register_error_page
from mailer.i18n import SUPPORTED_LOCALES, request_locale
from mailer.models import Role

STATIC_DIR = os.path.join(ROOT, "static", "console")
bp = Blueprint("console", __name__, url_prefix="/console", static_folder=STATIC_DIR, static_url_path="/static")

# Console pages: scripts and styles are our own files, nothing inline, nothing from another origin.
CONSOLE_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
               "frame-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
# A message's own HTML, framed by its page: nothing runs, nothing loads from anywhere (API.md §12).
FRAMED_HTML_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'"

# (endpoint, label, admin only): the navigation; a page module appends its entry. Endpoints not
# registered are left out, so the layout never links to a page that is not there.
NAV: list[tuple[str, Any, bool]] = [
    ("console.overview", _l("Overview"), True),
    ("console.messages", _l("Messages"), False),
    ("console.broadcasts", _l("Broadcasts"), True),
    ("console.templates", _l("Templates"), True),
    ("console.domains", _l("Domains"), True),
    ("console.webhooks", _l("Webhooks"), True),
    ("console.suppressions", _l("Suppressions"), True),
    ("console.api_keys", _l("API keys"), True),
    ("console.users", _l("Users"), True),
    ("console.settings", _l("Settings"), True),
    ("console.audit", _l("Audit log"), True),
    ("console.account", _l("Account"), False),
]
LANGUAGE_NAMES = {"en": "English", "zh-CN": "简体中文"}

# What each error page says (by the problem code, else by the status).
ERROR_TEXT: dict[str, Any] = {
    "csrf_failed": _l("This form could not be accepted: its security token is missing or has expired "
                      "(for example, the page was open before you signed in again). Nothing was changed. "
                      "Go back, reload the page and try again."),
    "rate_limited": _l("Too many attempts. Please wait a minute and try again."),
    "quota_exceeded": _l("The organization's daily sending quota is used up."),
    "validation_error": _l("Some of what was sent is not valid."),
}
STATUS_TEXT: dict[int, tuple[Any, Any]] = {
    400: (_l("Bad request"), _l("The request could not be understood.")),
    403: (_l("Not allowed"), _l("Your role does not allow you to open this page.")),
    404: (_l("Page not found"), _l("There is nothing here, or it is not yours to see.")),
    405: (_l("Not allowed"), _l("This page cannot be used that way.")),
    429: (_l("Too many requests"), _l("Too many attempts. Please wait a minute and try again.")),
    500: (_l("Something went wrong"), _l("An unexpected error occurred. It has been logged.")),
    503: (_l("Unavailable"), _l("A service the console needs is unavailable. Please try again shortly.")),
}


@bp.record_once
def _on_register(state: Any) -> None:
    app: Flask = state.app
    register_error_page(app, bp.url_prefix or "/console", render_error)
    app.add_template_global(static_url, "console_static")
    app.add_template_global(static_integrity, "console_integrity")


@bp.before_request
def _session_and_csrf() -> None:
    guard.load_session()
    if request.method == "POST":
        guard.check_csrf()


@bp.after_request
def _headers(response: Response) -> Response:
    return secured(response)


def secured(response: Response) -> Response:
    """The console's headers on every console answer, its error pages included."""
    framed = g.get("framed_html", False)
    response.headers["Content-Security-Policy"] = FRAMED_HTML_CSP if framed else CONSOLE_CSP
    response.headers["X-Frame-Options"] = "SAMEORIGIN" if framed else "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    if request.endpoint != "console.static":
        response.headers["Cache-Control"] = "no-store"
    new_form_id = g.pop("new_form_id", None)
    if new_form_id:
        response.set_cookie(guard.cookie_name(guard.FORM_COOKIE), new_form_id, **guard.cookie_options())
    return response


def render_error(status: int, code: str, headers: dict[str, str]) -> Response:
    try:
        guard.load_session()
    except Exception:  # a broken database must still leave an error page to show
        g.console_session = None
    title, text = STATUS_TEXT.get(status, STATUS_TEXT[500 if status >= 500 else 400])
    body = render_template("console/error.html", status=status, title=title,
                           text=ERROR_TEXT.get(code, text), request_id=g.get("request_id"))
    response = Response(body, status=status, mimetype="text/html")
    for name, value in headers.items():
        if name != "WWW-Authenticate":
            response.headers[name] = value
    return secured(response)


@bp.app_context_processor
def _layout() -> dict[str, Any]:
    if request.blueprint != "console" and not request.path.startswith("/console"):
        return {}
    user = guard.current_user() if "console_loaded" in g else None
    nav = [(endpoint, label) for endpoint, label, admin in NAV
           if endpoint in current_app.view_functions and user is not None and (user.role == Role.ADMIN or not admin)]
    return {
        "console_user": user,
        "console_nav": nav,
        "csrf_token": guard.csrf_token,
        "csrf_field": guard.CSRF_FIELD,
        "current_locale": request_locale(),
        "languages": [(code, LANGUAGE_NAMES[code]) for code in SUPPORTED_LOCALES],
        "language_names": LANGUAGE_NAMES,
    }


def static_url(name: str) -> str:
    """A console file's URL, naming its content hash (so a cached copy is always the file the page expects)."""
    return url_for("console.static", filename=name, v=_digest(name)[:16])


def static_integrity(name: str) -> str:
    return "sha384-" + base64.b64encode(bytes.fromhex(_digest(name, "sha384"))).decode()


@cache
def _digest(name: str, algorithm: str = "sha256") -> str:
    with open(os.path.join(STATIC_DIR, name), "rb") as f:
        return hashlib.new(algorithm, f.read()).hexdigest()
