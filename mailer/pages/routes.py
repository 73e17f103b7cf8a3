from __future__ import annotations

import hmac
import secrets
from typing import Any

from flask import Blueprint, Response, render_template, request
from flask_babel import lazy_gettext as _l

from mailer.accounts import signup
from mailer.errors import MailerError
from mailer.models import ActionPurpose
from mailer.pages.branding import page_context, page_policy

bp = Blueprint("pages", __name__)

CSRF_COOKIE = "mailer_csrf"
MIN_PASSWORD, MAX_PASSWORD = 8, 128


@bp.after_request
def _private(response: Response) -> Response:
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = page_policy()
    return response


def _page(template: str, page: dict[str, Any], status: int = 200, **context: Any) -> tuple[str, int]:
    return render_template(f"pages/{template}", **page, **context), status


def _link(token: str, purpose: ActionPurpose) -> tuple[signup.LinkStatus, dict[str, Any]]:
    """The link's state (read only), and the page set up in its tenant's branding and language."""
    status = signup.link_status(token, purpose)
    return status, page_context(status.tenant)


def _with_csrf(body: str, status: int, path: str, csrf: str) -> Response:
    response = Response(body, status=status, mimetype="text/html")
    response.set_cookie(CSRF_COOKIE, csrf, httponly=True, samesite="Strict", secure=request.is_secure,
                        path=path, max_age=3600)
    return response


def _csrf_ok() -> bool:
    """The form's CSRF field matches its cookie (compared as bytes: any text may be submitted)."""
    submitted, expected = request.form.get("csrf", ""), request.cookies.get(CSRF_COOKIE, "")
    return bool(expected) and hmac.compare_digest(submitted.encode(), expected.encode())


def _verify_page(token: str, status: int = 200, error: str | None = None) -> Any:
    """The confirmation button: opening the link (GET) changes nothing, mail scanners open links too."""
    link, page = _link(token, ActionPurpose.VERIFICATION)
    if link.error:  # read only: tells a dead link at once
        return _page("verify_email.html", page, 400, ok=False, code=link.error)
    csrf = secrets.token_urlsafe(32)
    body, status = _page("verify_email.html", page, status, confirm=True, token=token, csrf=csrf, error=error,
                         expires_at=link.expires_at)
    return _with_csrf(body, status, "/verify-email", csrf)


@bp.get("/verify-email")
def verify_email_page() -> Any:
    return _verify_page(request.args.get("token", ""))


@bp.post("/verify-email")
def verify_email() -> Any:
    token = request.form.get("token", "")
    if not _csrf_ok():
        return _verify_page(token, 400, error=_l("Your form expired. Please press the button again."))
    page = _link(token, ActionPurpose.VERIFICATION)[1]
    try:
        signup.verify_email(token)
    except MailerError as exc:
        return _page("verify_email.html", page, 400, ok=False, code=exc.code)
    body, _status = _page("verify_email.html", page, ok=True)
    response = Response(body, mimetype="text/html")
    response.delete_cookie(CSRF_COOKIE, path="/verify-email")
    return response


def _form(token: str, status: int = 200, error: str | None = None) -> Any:
    link, page = _link(token, ActionPurpose.PASSWORD_RESET)
    csrf = secrets.token_urlsafe(32)
    body, status = _page("reset_password.html", page, status, token=token, csrf=csrf, error=error, done=False,
                         min_length=MIN_PASSWORD, max_length=MAX_PASSWORD, expires_at=link.expires_at)
    return _with_csrf(body, status, "/reset-password", csrf)


@bp.get("/reset-password")
def reset_password_form() -> Any:
    return _form(request.args.get("token", ""))


@bp.post("/reset-password")
def reset_password() -> Any:
    token = request.form.get("token", "")
    if not _csrf_ok():
        return _form(token, 400, error=_l("Your form expired. Please submit it again."))
    password, confirm = request.form.get("password", ""), request.form.get("password_confirm", "")
    if password != confirm:
        return _form(token, 400, error=_l("The two passwords do not match."))
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        return _form(token, 400, error=_l("Use %(min)s to %(max)s characters.", min=MIN_PASSWORD, max=MAX_PASSWORD))
    page = _link(token, ActionPurpose.PASSWORD_RESET)[1]
    try:
        signup.reset_password(token, password)
    except MailerError as exc:
        return _page("reset_password.html", page, 400, done=False, failed=True, code=exc.code)
    body, _status = _page("reset_password.html", page, done=True)
    response = Response(body, mimetype="text/html")
    response.delete_cookie(CSRF_COOKIE, path="/reset-password")
    return response
