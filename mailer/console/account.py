"""/console/account: the signed-in person's name, language and password."""

from __future__ import annotations

from typing import Any

from flask import g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from mailer.accounts import console_sessions, password_change, profile
from mailer.auth.schemas import MePatch, PasswordChangeRequest
from mailer.console import guard
from mailer.console.forms import FormErrors, parse_form
from mailer.console.routes import bp
from mailer.errors import InvalidCredentialsError
from mailer.extensions import db


def _page(status: int = 200, **context: Any) -> tuple[str, int]:
    context.setdefault("errors", {})
    return render_template("console/account.html", user=guard.current_user(), **context), status


@bp.get("/account")
@guard.signed_in
def account() -> Any:
    return _page(saved=request.args.get("saved"))


@bp.post("/account")
@guard.signed_in
def account_update() -> Any:
    try:
        body = parse_form(MePatch, ("name", "locale"))
    except FormErrors as exc:
        return _page(422, errors=exc.fields)
    # PATCH /v1/auth/me's service. The form always sends the name: an empty field clears it.
    changes = {"name": body.name or "", **({"locale": body.locale} if body.locale else {})}
    profile.update_profile(g.principal, changes)
    return redirect(url_for("console.account", saved="profile"))


@bp.post("/account/language")
@guard.signed_in
def account_language() -> Any:
    """The layout's language switch: for a signed-in person it changes users.locale (§14)."""
    try:
        body = parse_form(MePatch, ("locale",))
    except FormErrors as exc:
        return _page(422, errors=exc.fields)
    if body.locale:
        profile.update_profile(g.principal, {"locale": body.locale})
    target = request.form.get("next", "")
    return redirect(target if target.startswith("/console") and not target.startswith("//")
                    else url_for("console.overview"))


@bp.post("/account/password")
@guard.signed_in
def account_password() -> Any:
    """A new password ends every session and token of the person; this browser gets a fresh session."""
    try:
        body = parse_form(PasswordChangeRequest, ("current_password", "password"))
        user = guard.current_user()
        password_change.change_password(user, body.current_password, body.password)
    except FormErrors as exc:
        return _page(422, errors=exc.fields)
    except InvalidCredentialsError:
        return _page(422, errors={"current_password": _("The current password is not right.")})
    raw = console_sessions.start(user)
    db.session.commit()
    g.console_session = None
    response = redirect(url_for("console.account", saved="password"))
    response.set_cookie(guard.cookie_name(guard.SESSION_COOKIE), raw, **guard.cookie_options())
    return response
