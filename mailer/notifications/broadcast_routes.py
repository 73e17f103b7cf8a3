"""POST /v1/broadcasts."""

from __future__ import annotations

from typing import Any

from mailer.http.json import parse_body
from mailer.models import Role
from mailer.notifications import broadcast_service
from mailer.notifications.responses import BroadcastAccepted
from mailer.notifications.routes import bp
from mailer.notifications.schemas import BroadcastRequest
from mailer.openapi.registry import documented
from mailer.security.principal import current_principal, require_role


@bp.post("/broadcasts")
@documented("Send one mail to every active user matching the audience", body=BroadcastRequest,
            response=BroadcastAccepted, status=202)
@require_role(Role.ADMIN)
def create_broadcast() -> Any:
    body = parse_body(BroadcastRequest)
    message, count = broadcast_service.start_broadcast(current_principal(), body)
    return {"id": str(message.id), "status": message.status, "recipient_count": count}, 202
