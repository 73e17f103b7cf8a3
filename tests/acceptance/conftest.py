"""Acceptance tests reuse the admin tests' seeded tenants, under the names the acceptance suite uses
(acme, globex); the scriptable SMTP sink and fast retries come from tests/conftest.py."""

from __future__ import annotations

import pytest

from tests.admin.conftest import Seeded, acme_seeded, globex_seeded  # noqa: F401


@pytest.fixture
def acme(acme_seeded: Seeded) -> Seeded:  # noqa: F811
    return acme_seeded


@pytest.fixture
def globex(globex_seeded: Seeded) -> Seeded:  # noqa: F811
    return globex_seeded
