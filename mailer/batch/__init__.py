"""POST /v1/messages/batch (API.md §11): up to 500 messages, each accepted or refused on its own."""

from mailer.batch.routes import bp

__all__ = ["bp"]
