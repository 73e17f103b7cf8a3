"""Tenants with a verified admin and a sender on their own domain, as bearer headers (domains and relays tests)."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.helpers import bearer, create_tenant, login


def admin_of(app: Flask, client: FlaskClient, slug: str) -> dict[str, Any]:
    create_tenant(app, slug, f"admin@{slug}.test", mail_from=f"news@{slug}.test")
    return bearer(login(client, slug, f"admin@{slug}.test"))


@pytest.fixture
def acme(app: Flask, client: FlaskClient) -> dict[str, Any]:
    return admin_of(app, client, "acme")


@pytest.fixture
def globex(app: Flask, client: FlaskClient) -> dict[str, Any]:
    return admin_of(app, client, "globex")
