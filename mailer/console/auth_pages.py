"""Signing in and out, forgotten passwords, sign-up: the console's face of POST /v1/auth/*."""

from __future__ import annotations

from typing import Any

from flask import g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from mailer.accounts import console_sessions, sessions, signup
from mailer.auth.schemas import AddressRequest, LoginRequest, RegisterRequest
from mailer.console import guard
from mailer.console.forms import FormErrors, hints_for, parse_form
from mailer.console.routes import bp
from mailer.errors import (
    AccountDisabledError,
    EmailNotVerifiedError,
    InvalidCredentialsError,
    SignupDisabledError,
    ValidationError,
)
from mailer.extensions import db
from mailer.i18n import lookup, negotiate_header
from mailer.i18n.setup import LANG_COOKIE
from mailer.smtp.validation import MessageValidationError


def _safe_next(target: str | None) -> str:
    """Only a console path of ours (never another host, never `//evil`)."""
    if target and target.startswith("/console") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("console.overview")


def _login_page(status: int = 200, **context: Any) -> tuple[str, int]:
    tenant = request.values.get("tenant", "").strip()
    active = signup.active_tenant(tenant) if tenant else None
    context.setdefault("form", {"tenant": tenant, "email": request.form.get("email", "")})
    return render_template("console/login.html", signup_open=bool(active and active.signup_enabled),
                           next=request.values.get("next", ""), **context), status


@bp.get("/login")
def login() -> Any:
    if guard.current_user() is not None:
        return redirect(url_for("console.overview"))
    return _login_page(signed_out=request.args.get("signed_out") == "1")


@bp.post("/login")
def login_submit() -> Any:
    """POST /v1/auth/login's rule (sessions.checked_login): its checks, timing, audit and rate limits."""
    try:
        body = parse_form(LoginRequest, ("tenant", "email", "password"))
        user = sessions.checked_login(body.tenant, body.email, body.password)
    except EmailNotVerifiedError:
        return _login_page(403, unverified=True)
    except (FormErrors, InvalidCredentialsError, AccountDisabledError):
        return _login_page(401, error=_("The organization, email or password is not right, "
                                        "or this account cannot sign in."))
    old = request.cookies.get(guard.cookie_name(guard.SESSION_COOKIE))
    raw = console_sessions.start(user)
    db.session.commit()
    console_sessions.end(old)  # a new id at every sign-in: a planted cookie is worth nothing
    response = redirect(_safe_next(request.form.get("next")))
    response.set_cookie(guard.cookie_name(guard.SESSION_COOKIE), raw, **guard.cookie_options())
    response.delete_cookie(guard.cookie_name(guard.FORM_COOKIE), **_deletion())
    return response


def _deletion() -> dict[str, Any]:
    options = guard.cookie_options()
    return {"path": options["path"], "secure": options["secure"], "httponly": True, "samesite": "Lax"}


@bp.post("/logout")
def logout() -> Response:
    console_sessions.end(request.cookies.get(guard.cookie_name(guard.SESSION_COOKIE)))
    g.console_session = None
    response = redirect(url_for("console.login", signed_out="1"))
    response.delete_cookie(guard.cookie_name(guard.SESSION_COOKIE), **_deletion())
    return response


@bp.post("/resend-verification")
def resend_verification() -> Any:
    """POST /v1/auth/resend-verification: the uniform answer, the same mail."""
    try:
        body = parse_form(AddressRequest, ("tenant", "email"))
        signup.resend_verification(body.tenant, body.email)
    except (FormErrors, MessageValidationError):
        return _login_page(422, unverified=True)
    return _login_page(202, resent=True)


@bp.route("/forgot-password", methods=["GET", "POST"])
def forgot_password() -> Any:
    """POST /v1/auth/forgot-password: the same uniform answer and mail."""
    form = {"tenant": request.values.get("tenant", ""), "email": request.form.get("email", "")}
    if request.method == "GET":
        return render_template("console/forgot_password.html", form=form, errors={})
    try:
        body = parse_form(AddressRequest, ("tenant", "email"))
        signup.forgot_password(body.tenant, body.email)
    except FormErrors as exc:
        return render_template("console/forgot_password.html", form=form, errors=exc.fields), 422
    except MessageValidationError as exc:
        return render_template("console/forgot_password.html", form=form, errors=hints_for(exc)), 422
    return render_template("console/forgot_password.html", form=form, errors={}, sent=True), 202


@bp.route("/sign-up", methods=["GET", "POST"])
def sign_up() -> Any:
    """POST /v1/auth/register: its checks and its uniform answer."""
    form = {name: request.values.get(name, "") for name in ("tenant", "name", "email")}
    tenant = signup.active_tenant(form["tenant"].strip()) if form["tenant"].strip() else None
    if request.method == "GET":
        if form["tenant"] and (tenant is None or not tenant.signup_enabled):
            return render_template("console/sign_up.html", form=form, errors={}, closed=True), 403
        return render_template("console/sign_up.html", form=form, errors={})
    try:
        body = parse_form(RegisterRequest, ("tenant", "email", "password", "name"))
        # The language the person chose on these pages (the `lang` cookie), else their browser's (API.md §14).
        locale = lookup(request.cookies.get(LANG_COOKIE)) or negotiate_header(request.accept_languages)
        signup.register(body.tenant, body.email, body.password, body.name, locale)
    except FormErrors as exc:
        return render_template("console/sign_up.html", form=form, errors=exc.fields), 422
    except (ValidationError, MessageValidationError) as exc:
        return render_template("console/sign_up.html", form=form, errors=hints_for(exc)), 422
    except SignupDisabledError:
        return render_template("console/sign_up.html", form=form, errors={}, closed=True), 403
    return render_template("console/sign_up.html", form=form, errors={}, sent=True), 202
