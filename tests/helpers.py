"""Test-only helpers shared across modules: tenants, logins, bearer headers."""

from __future__ import annotations

import json
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

ADMIN_PASSWORD = "correct horse battery staple"


def create_tenant(
    app: Flask, slug: str = "acme", admin_email: str = "admin@acme.test", **options: str
) -> dict[str, str]:
    """Creates a tenant through the real CLI; returns {"tenant_id", "admin_id"}."""
    args = ["tenants", "create", slug, "--name", slug.title(), "--admin-email", admin_email,
            "--admin-password", ADMIN_PASSWORD]
    for name, value in options.items():
        args += [f"--{name.replace('_', '-')}", value]
    result = app.test_cli_runner().invoke(args=args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def login(client: FlaskClient, tenant: str, email: str, password: str = ADMIN_PASSWORD) -> str:
    response = client.post("/v1/auth/login", json={"tenant": tenant, "email": email, "password": password})
    assert response.status_code == 200, response.get_json()
    return response.get_json()["access_token"]


def bearer(token: str) -> dict[str, Any]:
    return {"Authorization": f"Bearer {token}"}
