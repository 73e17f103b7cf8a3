"""Acceptance tests reuse the delivery fixtures (scriptable SMTP sink, fast retries)."""

from tests.delivery.conftest import fast_app, sink  # noqa: F401
