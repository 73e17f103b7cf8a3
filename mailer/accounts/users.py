"""Finding a tenant's user by address: one lookup, one normalisation (stripped, lower-cased, as stored)."""

from __future__ import annotations

from sqlalchemy import select

from mailer.extensions import db
from mailer.models import Tenant, User


def find_user(tenant: Tenant | None, email: str) -> User | None:
    if tenant is None:
        return None
    return db.session.scalars(
        select(User).where(User.tenant_id == tenant.id, User.email == email.strip().lower())
    ).first()
