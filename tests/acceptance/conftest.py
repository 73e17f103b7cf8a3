"""Acceptance tests reuse the admin tests' seeded tenants (acme, globex) and API key helper."""

from tests.admin.conftest import acme, globex  # noqa: F401
