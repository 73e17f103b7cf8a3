"""Two seeded tenants (acme, globex), extra users and API keys, as the admin tests need them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.helpers import ADMIN_PASSWORD, bearer, create_tenant, login

_HASH: dict[str, str] = {}


def password_hash() -> str:
    """One argon2 hash of ADMIN_PASSWORD per session: seeding hundreds of users stays fast."""
    if "h" not in _HASH:
        from mailer.security.passwords import hash_password

        _HASH["h"] = hash_password(ADMIN_PASSWORD)
    return _HASH["h"]


def add_users(app: Flask, tenant_id: str, emails: list[str], *, role: str = "user", verified: bool = True,
              active: bool = True, names: list[str] | None = None) -> list[str]:
    """Inserts users straight into the database; returns their ids."""
    from mailer.extensions import db
    from mailer.models import User

    ids = []
    with app.app_context():
        for index, email in enumerate(emails):
            user = User(
                id=uuid.uuid4(), tenant_id=uuid.UUID(tenant_id), email=email.lower(),
                name=names[index] if names else "", password_hash=password_hash(), role=role, is_active=active,
                email_verified_at=datetime.now(UTC) if verified else None,
            )
            db.session.add(user)
            ids.append(str(user.id))
        db.session.commit()
    return ids


@dataclass
class Seeded:
    slug: str
    tenant_id: str
    admin_id: str
    admin_email: str
    admin: dict[str, Any]  # bearer headers of the admin
    user_id: str = ""
    user_email: str = ""
    user: dict[str, Any] = field(default_factory=dict)  # bearer headers of a plain user


def seed(app: Flask, client: FlaskClient, slug: str) -> Seeded:
    ids = create_tenant(app, slug, f"admin@{slug}.test", mail_from=f"news@{slug}.test")
    admin_email, user_email = f"admin@{slug}.test", f"user@{slug}.test"
    [user_id] = add_users(app, ids["tenant_id"], [user_email], names=["Uma User"])
    return Seeded(
        slug, ids["tenant_id"], ids["admin_id"], admin_email, bearer(login(client, slug, admin_email)),
        user_id, user_email, bearer(login(client, slug, user_email)),
    )


@pytest.fixture
def acme_seeded(app: Flask, client: FlaskClient) -> Seeded:
    return seed(app, client, "acme")


@pytest.fixture
def globex_seeded(app: Flask, client: FlaskClient) -> Seeded:
    return seed(app, client, "globex")


def make_api_key(client: FlaskClient, admin: dict[str, Any], name: str = "ci") -> dict[str, Any]:
    response = client.post("/v1/api-keys", json={"name": name}, headers=admin)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def send(client: FlaskClient, headers: dict[str, Any], to: list[str] | None = None, **extra: Any) -> Any:
    body = {"to": to or ["ann@example.com"], "subject": "Hi", "text": "Hello", **extra}
    return client.post("/v1/messages", json=body, headers=headers)
