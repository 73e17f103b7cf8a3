"""Records audit events. Callers pass ids and facts, never secrets: details are filtered anyway."""

from __future__ import annotations

import uuid
from typing import Any

from flask import has_request_context, request

from mailer.extensions import db
from mailer.models import AuditEvent

# Keys that must never reach an audit record, whatever a caller passes.
_SECRET_KEYS = ("password", "token", "secret", "key", "hash", "authorization", "body", "html", "text")


def _clean(details: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in details.items() if not any(s in k.lower() for s in _SECRET_KEYS)}


def record_audit(
    action: str,
    *,
    tenant_id: uuid.UUID,
    actor_id: uuid.UUID | None = None,
    actor_type: str = "user",
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add an audit event to the session; the caller's transaction commits it."""
    event = AuditEvent(
        tenant_id=tenant_id,
        action=action,
        actor_id=actor_id,
        actor_type=actor_type,
        ip=request.remote_addr if has_request_context() else None,
        details=_clean(details or {}),
    )
    db.session.add(event)
    return event
