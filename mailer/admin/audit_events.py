from __future__ import annotations

from typing import Any

from flask import request

from mailer.admin import bp
from mailer.admin.serializers import audit_event_json
from mailer.api import paginate
from mailer.models import AuditEvent
from mailer.security.principal import require_role
from mailer.security.scope import tenant_select


@bp.get("/audit-events")
@require_role("admin")
def list_audit_events() -> Any:
    query = tenant_select(AuditEvent)
    if action := request.args.get("action"):
        query = query.where(AuditEvent.action == action)
    return paginate(query.order_by(AuditEvent.seq.desc()), audit_event_json)
