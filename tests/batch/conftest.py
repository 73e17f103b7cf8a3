"""Batch tests deliver through the same scriptable sink and fast app as the delivery tests."""

from tests.delivery.conftest import fast_app, sink  # noqa: F401
