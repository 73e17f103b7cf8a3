"""Fixtures for the hardening tests: a tenant with its admin logged in."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import bearer, create_tenant, login


@pytest.fixture
def admin(app: Any, client: Any) -> dict[str, str]:
    create_tenant(app)
    return bearer(login(client, "acme", "admin@acme.test"))
