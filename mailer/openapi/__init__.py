"""The API's own description: `/openapi.json` (generated) and a Redoc page at `/docs`."""

from flask import Blueprint

bp = Blueprint("openapi", __name__)

from mailer.openapi import routes  # noqa: E402,F401
