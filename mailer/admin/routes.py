from __future__ import annotations

from typing import Any

from mailer.admin import bp, service
from mailer.admin.schemas import TenantPatch, UserPatch
from mailer.admin.serializers import tenant_json, user_json
from mailer.api import paginate, parse_body
from mailer.extensions import db
from mailer.models import Tenant, User
from mailer.security.principal import current_principal, require_role
from mailer.security.scope import tenant_select


@bp.get("/tenant")
@require_role("admin")
def get_tenant() -> Any:
    return tenant_json(db.session.get(Tenant, current_principal().tenant_id))


@bp.patch("/tenant")
@require_role("admin")
def patch_tenant() -> Any:
    body = parse_body(TenantPatch)
    return tenant_json(service.update_tenant(current_principal(), body.model_dump(exclude_unset=True)))


@bp.get("/users")
@require_role("admin")
def list_users() -> Any:
    return paginate(tenant_select(User).order_by(User.created_at, User.id), user_json)


@bp.patch("/users/<user_id>")
@require_role("admin")
def patch_user(user_id: str) -> Any:
    body = parse_body(UserPatch)
    return user_json(service.update_user(current_principal(), user_id, body.model_dump(exclude_unset=True)))
