from __future__ import annotations

import hmac
import secrets
from typing import Any

from flask import Blueprint, Response, render_template, request

from mailer.accounts import signup
from mailer.errors import MailerError

bp = Blueprint("pages", __name__)

CSRF_COOKIE = "mailer_csrf"
MIN_PASSWORD, MAX_PASSWORD = 8, 128


@bp.after_request
def _private(response: Response) -> Response:
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
    return response


def _page(template: str, status: int = 200, **context: Any) -> tuple[str, int]:
    return render_template(f"pages/{template}", **context), status


@bp.get("/verify-email")
def verify_email() -> Any:
    token = request.args.get("token", "")
    try:
        signup.verify_email(token)
    except MailerError as exc:
        return _page("verify_email.html", 400, ok=False, code=exc.code)
    return _page("verify_email.html", ok=True)


def _form(token: str, status: int = 200, error: str | None = None) -> Any:
    csrf = secrets.token_urlsafe(32)
    body, status = _page("reset_password.html", status, token=token, csrf=csrf, error=error, done=False,
                         min_length=MIN_PASSWORD, max_length=MAX_PASSWORD)
    response = Response(body, status=status, mimetype="text/html")
    response.set_cookie(CSRF_COOKIE, csrf, httponly=True, samesite="Strict", secure=request.is_secure,
                        path="/reset-password", max_age=3600)
    return response


@bp.get("/reset-password")
def reset_password_form() -> Any:
    return _form(request.args.get("token", ""))


@bp.post("/reset-password")
def reset_password() -> Any:
    token = request.form.get("token", "")
    submitted, expected = request.form.get("csrf", ""), request.cookies.get(CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(submitted, expected):
        return _form(token, 400, error="Your form expired. Please submit it again.")
    password, confirm = request.form.get("password", ""), request.form.get("password_confirm", "")
    if password != confirm:
        return _form(token, 400, error="The two passwords do not match.")
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        return _form(token, 400, error=f"Use {MIN_PASSWORD} to {MAX_PASSWORD} characters.")
    try:
        signup.reset_password(token, password)
    except MailerError as exc:
        return _page("reset_password.html", 400, done=False, failed=True, code=exc.code)
    response = Response(render_template("pages/reset_password.html", done=True), mimetype="text/html")
    response.delete_cookie(CSRF_COOKIE, path="/reset-password")
    return response
