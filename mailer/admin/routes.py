from __future__ import annotations

from typing import Any

from flask import Blueprint

from mailer.admin import service
from mailer.admin.responses import TenantOut, UserListQuery, UserOut
from mailer.admin.schemas import TenantPatch, UserPatch
from mailer.admin.serializers import tenant_json, user_json
from mailer.extensions import db
from mailer.http.json import parse_body, parse_query
from mailer.http.pagination import Page, paginate
from mailer.models import Role, Tenant, User
from mailer.openapi.registry import documented
from mailer.security.principal import current_principal, require_role
from mailer.security.scope import tenant_select

bp = Blueprint("admin", __name__, url_prefix="/v1")


@bp.get("/tenant")
@documented("The caller's tenant", response=TenantOut)
@require_role(Role.ADMIN)
def get_tenant() -> Any:
    return tenant_json(db.session.get(Tenant, current_principal().tenant_id))


@bp.patch("/tenant")
@documented("Change the tenant's name, frontend URL, sender, retention, language or branding", body=TenantPatch,
            response=TenantOut)
@require_role(Role.ADMIN)
def patch_tenant() -> Any:
    body = parse_body(TenantPatch)
    return tenant_json(service.update_tenant(current_principal(), body.model_dump(exclude_unset=True)))


@bp.get("/users")
@documented("The tenant's users", query=UserListQuery, response=Page[UserOut])
@require_role(Role.ADMIN)
def list_users() -> Any:
    filters = parse_query(UserListQuery)
    query = tenant_select(User)
    if filters.role is not None:
        query = query.where(User.role == filters.role)
    if filters.is_active is not None:
        query = query.where(User.is_active.is_(filters.is_active))
    return paginate(query.order_by(User.created_at, User.id), user_json)


@bp.patch("/users/<user_id>")
@documented("Change a user's role or active flag; ends the user's sessions", body=UserPatch, response=UserOut)
@require_role(Role.ADMIN)
def patch_user(user_id: str) -> Any:
    body = parse_body(UserPatch)
    return user_json(service.update_user(current_principal(), user_id, body.model_dump(exclude_unset=True)))
