"""The API's own description: `/openapi.json` (generated) and a Redoc page at `/docs`."""

from mailer.openapi.routes import bp

__all__ = ["bp"]
