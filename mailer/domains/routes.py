from __future__ import annotations

from typing import Any

from flask import Blueprint

from mailer.domains import service
from mailer.domains.responses import DomainOut
from mailer.domains.schemas import DomainCreate
from mailer.domains.serializers import domain_json
from mailer.http.json import parse_body, parse_query
from mailer.http.pagination import Page, PageQuery, paginate
from mailer.models import Role, SendingDomain
from mailer.openapi.registry import documented
from mailer.security.principal import current_principal, require_role
from mailer.security.scope import get_owned, tenant_select

bp = Blueprint("domains", __name__, url_prefix="/v1")


@bp.post("/domains")
@documented("Add a sending domain: a fresh DKIM key and the DNS records to publish", body=DomainCreate,
            response=DomainOut, status=201)
@require_role(Role.ADMIN)
def create_domain() -> Any:
    body = parse_body(DomainCreate)
    return domain_json(service.create_domain(current_principal(), body.name)), 201


@bp.get("/domains")
@documented("The tenant's sending domains", query=PageQuery, response=Page[DomainOut])
@require_role(Role.ADMIN)
def list_domains() -> Any:
    parse_query(PageQuery)
    query = tenant_select(SendingDomain).order_by(SendingDomain.created_at, SendingDomain.id)
    return paginate(query, domain_json)


@bp.get("/domains/<domain_id>")
@documented("One sending domain with its DNS records and their status", response=DomainOut)
@require_role(Role.ADMIN)
def get_domain(domain_id: str) -> Any:
    return domain_json(get_owned(SendingDomain, domain_id))


@bp.post("/domains/<domain_id>/verify")
@documented("Look the domain's DNS records up now and record what was found", response=DomainOut, errors=(503,))
@require_role(Role.ADMIN)
def verify_domain(domain_id: str) -> Any:
    return domain_json(*service.check_domain(current_principal(), domain_id))


@bp.post("/domains/<domain_id>/rotate-dkim")
@documented("A new DKIM selector and key; the current key signs until the new one verifies", response=DomainOut)
@require_role(Role.ADMIN)
def rotate_dkim(domain_id: str) -> Any:
    return domain_json(service.rotate_dkim(current_principal(), domain_id))


@bp.delete("/domains/<domain_id>")
@documented("Remove a sending domain; its mail is no longer signed", status=204)
@require_role(Role.ADMIN)
def delete_domain(domain_id: str) -> Any:
    service.delete_domain(current_principal(), domain_id)
    return "", 204
