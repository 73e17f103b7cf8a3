"""The seeded tenants of the admin tests, and helpers to read the mail the languages tests receive."""

from __future__ import annotations

from typing import Any

from tests.fixtures import Seeded, add_users, seed  # noqa: F401 - for the languages tests


def set_tenant(client: Any, admin: dict[str, Any], **fields: Any) -> dict[str, Any]:
    response = client.patch("/v1/tenant", json=fields, headers=admin)
    assert response.status_code == 200, response.get_json()
    return response.get_json()
