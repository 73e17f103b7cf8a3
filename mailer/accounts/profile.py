"""The signed-in person's own account: what GET /v1/auth/me shows and PATCH /v1/auth/me changes (API.md §2, §14).

The console's Account page and its language switch call the same ``update_profile``.
"""

from __future__ import annotations

from typing import Any

from flask import current_app

from mailer.audit import record_audit
from mailer.errors import ValidationError
from mailer.extensions import atomic, db
from mailer.models import Tenant, User
from mailer.security.types import Principal

PROFILE_FIELDS = ("name", "locale")


def user_locale(user: User, tenant: Tenant | None = None) -> str:
    """The language the person reads: their own, else the tenant's default, else DEFAULT_LOCALE."""
    tenant = tenant or user.tenant
    return user.locale or (tenant.default_locale if tenant else None) or current_app.config["MAILER"].DEFAULT_LOCALE


def profile(principal: Principal) -> tuple[User, Tenant]:
    return db.session.get(User, principal.id), db.session.get(Tenant, principal.tenant_id)


def update_profile(principal: Principal, changes: dict[str, Any]) -> tuple[User, Tenant]:
    """Change the caller's name and/or language (``changes``: the fields given); audited `user.changed`."""
    user, tenant = profile(principal)
    for field in PROFILE_FIELDS:
        if field in changes and changes[field] is None:
            raise ValidationError(errors=[{"field": field, "message": "cannot be null"}])
    before = {field: getattr(user, field) for field in changes}
    for field, value in changes.items():
        setattr(user, field, value)
    with atomic():
        if before != changes:
            record_audit("user.changed", tenant_id=user.tenant_id, actor_id=principal.id, actor_type=principal.kind,
                         details={"user_id": str(user.id), "fields": sorted(changes)})
    return user, tenant
