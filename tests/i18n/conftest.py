"""The seeded tenants of the admin tests, and helpers to read the mail the languages tests receive."""

from __future__ import annotations

from typing import Any

from tests.admin.conftest import Seeded, acme_seeded, add_users, globex_seeded, seed  # noqa: F401 - fixtures
from tests.auth.conftest import acme_ids  # noqa: F401 - fixture


def set_tenant(client: Any, admin: dict[str, Any], **fields: Any) -> dict[str, Any]:
    response = client.patch("/v1/tenant", json=fields, headers=admin)
    assert response.status_code == 200, response.get_json()
    return response.get_json()
