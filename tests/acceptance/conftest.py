"""Acceptance tests reuse the admin tests' seeded tenants, under the names the acceptance suite uses
(acme, globex); the scriptable SMTP sink and fast retries come from tests/conftest.py."""

from __future__ import annotations

import pytest

from tests.fixtures import Seeded


@pytest.fixture
def acme(acme_seeded: Seeded) -> Seeded:
    return acme_seeded


@pytest.fixture
def globex(globex_seeded: Seeded) -> Seeded:
    return globex_seeded
