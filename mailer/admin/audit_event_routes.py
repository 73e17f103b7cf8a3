from __future__ import annotations

from typing import Any

from mailer.admin.responses import AuditEventOut, AuditEventQuery
from mailer.admin.routes import bp
from mailer.admin.serializers import audit_event_json
from mailer.http.json import parse_query
from mailer.http.pagination import Page, paginate
from mailer.models import AuditEvent, Role
from mailer.openapi.registry import documented
from mailer.security.principal import require_role
from mailer.security.scope import tenant_select


@bp.get("/audit-events")
@documented("The tenant's audit trail, newest first", query=AuditEventQuery, response=Page[AuditEventOut])
@require_role(Role.ADMIN)
def list_audit_events() -> Any:
    filters = parse_query(AuditEventQuery)
    query = tenant_select(AuditEvent)
    if action := filters.action:
        query = query.where(AuditEvent.action == action)
    return paginate(query.order_by(AuditEvent.seq.desc()), audit_event_json)
