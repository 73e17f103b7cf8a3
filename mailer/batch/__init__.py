"""POST /v1/messages/batch (API.md §11): up to 500 messages, each accepted or refused on its own."""

from flask import Blueprint

bp = Blueprint("batch", __name__, url_prefix="/v1")

from mailer.batch import routes  # noqa: E402,F401
