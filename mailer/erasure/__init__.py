"""Erasure (API.md §11): an address replaced by its keyed digest everywhere in a tenant's data.

``POST /v1/erasures`` (``routes``) → ``service.request_erasure``, which runs every eraser of
``erasers.ERASERS`` in one transaction. Mail to the address still in flight is left until it
finishes: the erasure stays pending and every purge (``flask --app wsgi purge``, daily) erases
what has finished since.
"""

from mailer.erasure.routes import bp

__all__ = ["bp"]
