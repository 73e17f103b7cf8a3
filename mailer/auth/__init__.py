from flask import Blueprint

bp = Blueprint("auth", __name__, url_prefix="/v1/auth")

from mailer.auth import routes  # noqa: E402,F401
