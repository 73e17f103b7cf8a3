"""/console: the admin's overview (a `user` is sent to their messages)."""

from __future__ import annotations

from typing import Any

from flask import redirect, render_template, url_for

from mailer.console import guard
from mailer.console.routes import bp


@bp.get("/")
@bp.get("")  # registered first: url_for builds /console
@guard.signed_in
def overview() -> Any:
    if guard.current_user().role != "admin":
        return redirect(url_for("console.messages"))
    return render_template("console/overview.html")
