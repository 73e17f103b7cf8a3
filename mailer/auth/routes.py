from __future__ import annotations

from typing import Any

from mailer.api import parse_body
from mailer.auth import bp, service
from mailer.auth.schemas import LoginRequest
from mailer.extensions import db
from mailer.models import Tenant, User
from mailer.security.principal import current_principal, require_role


@bp.post("/login")
def login() -> Any:
    body = parse_body(LoginRequest)
    return service.login(body.tenant, body.email, body.password).as_json()


@bp.get("/me")
@require_role("user", "admin")
def me() -> Any:
    principal = current_principal()
    user = db.session.get(User, principal.id)
    tenant = db.session.get(Tenant, principal.tenant_id)
    return {
        "id": str(user.id),
        "email": user.email,
        "name": user.name,
        "role": user.role,
        "email_verified": user.email_verified,
        "tenant": {"id": str(tenant.id), "slug": tenant.slug, "name": tenant.name},
    }
