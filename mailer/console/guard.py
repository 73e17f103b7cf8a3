"""Who is signed in to the console, the CSRF token bound to that, and the page decorators.

The session cookie holds an opaque random id (mailer.accounts.console_sessions keeps its hash). Forms
carry a synchronizer token: an HMAC of the session's id hash, or, before sign-in, of a random id in a
second cookie, so a token from one browser is worthless in another.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import current_app, g, redirect, request, url_for
from flask_babel import lazy_gettext as _l

from mailer.accounts import console_sessions
from mailer.accounts.console_sessions import LiveSession
from mailer.errors import ForbiddenError, MailerError
from mailer.models import ActorType, Role, User
from mailer.security.types import Principal

F = TypeVar("F", bound=Callable[..., Any])

SESSION_COOKIE = "mailer_console"
FORM_COOKIE = "mailer_console_form"
CSRF_FIELD = "csrf_token"


class CsrfRejectedError(MailerError):
    """A form POST without a valid token: nothing was changed."""

    status, code, title = 400, "csrf_failed", "The form's security token is missing or invalid"


def cookie_name(base: str) -> str:
    """``__Host-`` (Secure, host-only, path /) outside debug, whatever the scheme of PUBLIC_BASE_URL."""
    return base if current_app.debug else f"__Host-{base}"


def cookie_options() -> dict[str, Any]:
    return {"httponly": True, "samesite": "Lax", "secure": not current_app.debug, "path": "/"}


def load_session() -> LiveSession | None:
    """Resume the request's console session once; a signed-in person's principal and language follow."""
    if "console_loaded" in g:
        return g.get("console_session")
    g.console_loaded = True
    live = console_sessions.resume(request.cookies.get(cookie_name(SESSION_COOKIE)))
    g.console_session = live
    if live is not None:
        user = live.user
        # The API's services read the caller from g.principal (security.principal.current_principal).
        g.principal = Principal(ActorType.USER, user.id, user.tenant_id, user.role)
        g.caller_tenant = user.tenant
        g.user_locale = getattr(user, "locale", None)
    return live


def current_user() -> User | None:
    live = load_session()
    return live.user if live else None


def _binding() -> str:
    live = load_session()
    if live is not None:
        return "s:" + live.id_hash
    form_id = request.cookies.get(cookie_name(FORM_COOKIE)) or g.get("new_form_id")
    if not form_id:
        form_id = g.new_form_id = secrets.token_urlsafe(24)  # set as a cookie by routes._headers
    return "f:" + hashlib.sha256(form_id.encode()).hexdigest()


def csrf_token() -> str:
    key = current_app.config["MAILER"].JWT_SECRET_KEY.encode()
    return hmac.new(key, b"console-csrf:" + _binding().encode(), hashlib.sha256).hexdigest()


def check_csrf() -> None:
    submitted = request.form.get(CSRF_FIELD, "")
    if "new_form_id" in g or not hmac.compare_digest(submitted.encode(), csrf_token().encode()):
        raise CsrfRejectedError()


def signed_in(view: F) -> F:
    """The page needs a live session; without one, the sign-in page (and back here after)."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if load_session() is None:
            target = request.full_path if request.method == "GET" else None
            return redirect(url_for("console.login", next=target.rstrip("?") if target else None))
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def admin_only(view: F) -> F:
    """Signed in as an admin of the tenant; a `user` gets the 403 page."""

    @signed_in
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if g.principal.role != Role.ADMIN:
            raise ForbiddenError(str(_l("This page is for the organization's administrators.")))
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]
