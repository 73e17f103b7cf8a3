"""Acceptance tests reuse the admin tests' seeded tenants (acme, globex) and the delivery fixtures
(scriptable SMTP sink, fast retries)."""

from tests.admin.conftest import acme, globex  # noqa: F401
from tests.delivery.conftest import fast_app, sink  # noqa: F401
