"""/console/messages: the message log and one message."""

from __future__ import annotations

from typing import Any

from flask import render_template

from mailer.console import guard
from mailer.console.routes import bp


@bp.get("/messages")
@guard.signed_in
def messages() -> Any:
    return render_template("console/messages.html")
