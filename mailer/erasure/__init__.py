"""Erasure (API.md §11): an address replaced by its keyed digest everywhere in a tenant's data.

``POST /v1/erasures`` (``routes``) → ``service.request_erasure``, which runs every eraser of
``erasers.ERASERS`` in one transaction. Mail to the address still in flight is left until it
finishes: the erasure stays pending and every purge (``flask --app wsgi purge``, daily) erases
what has finished since.
"""

from flask import Blueprint

bp = Blueprint("erasure", __name__, url_prefix="/v1")

from mailer.erasure import routes  # noqa: E402,F401
