from __future__ import annotations

from typing import Any

from mailer.admin import service
from mailer.admin.responses import ApiKeyCreated, ApiKeyOut
from mailer.admin.routes import bp
from mailer.admin.schemas import ApiKeyCreate
from mailer.admin.serializers import api_key_json
from mailer.http.json import parse_body, parse_query
from mailer.http.pagination import Page, PageQuery, paginate
from mailer.models import ApiKey, Role
from mailer.openapi.registry import documented
from mailer.security.principal import current_principal, require_role
from mailer.security.scope import tenant_select


@bp.post("/api-keys")
@documented("Create an API key (role service); its secret is shown once", body=ApiKeyCreate,
            response=ApiKeyCreated, status=201)
@require_role(Role.ADMIN)
def create_api_key() -> Any:
    body = parse_body(ApiKeyCreate)
    key, secret = service.create_api_key(current_principal(), body.name)
    # The only time the secret leaves the service; it is not stored.
    return {**api_key_json(key), "key": secret}, 201, {"Cache-Control": "no-store"}


@bp.get("/api-keys")
@documented("The tenant's API keys (no secrets)", query=PageQuery, response=Page[ApiKeyOut])
@require_role(Role.ADMIN)
def list_api_keys() -> Any:
    parse_query(PageQuery)
    query = tenant_select(ApiKey).where(ApiKey.revoked_at.is_(None)).order_by(ApiKey.created_at, ApiKey.id)
    return paginate(query, api_key_json)


@bp.delete("/api-keys/<key_id>")
@documented("Revoke an API key: it stops working at once", status=204)
@require_role(Role.ADMIN)
def delete_api_key(key_id: str) -> Any:
    service.revoke_api_key(current_principal(), key_id)
    return "", 204
