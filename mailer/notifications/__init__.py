from flask import Blueprint

bp = Blueprint("notifications", __name__, url_prefix="/v1")

from mailer.notifications import broadcasts, routes, templates_routes  # noqa: E402,F401
