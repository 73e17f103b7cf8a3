"""Records audit events in a per-tenant hash chain. Callers pass ids and facts, never secrets.

Each event stores the hash of the tenant's previous event and its own hash over its
content plus that link, and the tenant row keeps the chain's head. Altering, deleting
or reordering a stored event breaks the chain, which `flask audit verify TENANT` reports.
Writers lock the tenant row (SELECT … FOR UPDATE on PostgreSQL) so concurrent events
never fork the chain; a unique (tenant_id, seq) is the backstop on every database.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app, has_request_context, request
from sqlalchemy import select, update

from mailer.extensions import db
from mailer.models import AuditEvent, Tenant
from mailer.models.types import utcnow
from mailer.security.address_digest import mask_addresses

# Keys that must never reach an audit record, whatever a caller passes.
_SECRET_KEYS = ("password", "token", "secret", "key", "hash", "authorization", "body", "html", "text")
GENESIS = "0" * 64


def _clean(details: dict[str, Any]) -> dict[str, Any]:
    # An identifier ("api_key_id") names a row, not a secret.
    cleaned = {
        k: v for k, v in details.items()
        if k.lower().endswith("_id") or not any(s in k.lower() for s in _SECRET_KEYS)
    }
    # No address in the audit log (API.md §11): a caller's address becomes its keyed digest.
    cleaned = mask_addresses(cleaned, current_app.config["MAILER"].SECRETS_KEY)
    # Through JSON once, so that what is hashed is exactly what the database gives back.
    return json.loads(json.dumps(cleaned, default=str))


def _at(value: datetime) -> str:
    return value.isoformat(timespec="microseconds").replace("+00:00", "Z")


def event_hash(
    *, tenant_id: Any, seq: int, prev_hash: str, action: str, actor_id: Any, actor_type: str,
    ip: str | None, at: datetime, details: dict[str, Any],
) -> str:
    """SHA-256 over the event's canonical JSON, including the previous event's hash."""
    canonical = json.dumps(
        {
            "tenant_id": str(tenant_id), "seq": seq, "prev_hash": prev_hash, "action": action,
            "actor_id": str(actor_id) if actor_id else None, "actor_type": actor_type, "ip": ip,
            "at": _at(at), "details": details,
        },
        sort_keys=True, separators=(",", ":"), ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _hash_of(event: AuditEvent) -> str:
    return event_hash(
        tenant_id=event.tenant_id, seq=event.seq, prev_hash=event.prev_hash, action=event.action,
        actor_id=event.actor_id, actor_type=event.actor_type, ip=event.ip, at=event.at, details=event.details,
    )


def record_audit(
    action: str,
    *,
    tenant_id: uuid.UUID,
    actor_id: uuid.UUID | None = None,
    actor_type: str = "user",
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add an audit event to the session, chained to the tenant's last one; the caller commits.

    Holds the tenant row's lock until the caller's transaction ends.
    """
    db.session.flush()  # pending changes first: the locked read below must not discard them
    seq, head = db.session.execute(
        select(Tenant.audit_seq, Tenant.audit_head).where(Tenant.id == tenant_id).with_for_update()
    ).one()
    event = AuditEvent(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        action=action,
        actor_id=actor_id,
        actor_type=actor_type,
        ip=request.remote_addr if has_request_context() else None,
        at=utcnow(),
        details=_clean(details or {}),
        seq=seq + 1,
        prev_hash=head or GENESIS,
    )
    event.hash = _hash_of(event)
    db.session.add(event)
    db.session.execute(
        update(Tenant).where(Tenant.id == tenant_id).values(audit_seq=event.seq, audit_head=event.hash)
        .execution_options(synchronize_session=False)
    )
    return event


@dataclass(frozen=True)
class ChainBreak:
    event_id: str | None
    seq: int
    reason: str


def verify_chain(tenant: Tenant, events: Iterable[AuditEvent] | None = None) -> tuple[int, ChainBreak | None]:
    """Walk the tenant's events in order; (events checked, first break or None)."""
    if events is None:
        events = db.session.scalars(
            select(AuditEvent).where(AuditEvent.tenant_id == tenant.id).order_by(AuditEvent.seq)
        )
    expected_prev, count = GENESIS, 0
    for event in events:
        count += 1
        if event.seq != count:
            return count, ChainBreak(str(event.id), event.seq, f"expected sequence {count}, found {event.seq}")
        if event.prev_hash != expected_prev:
            return count, ChainBreak(str(event.id), event.seq, "does not link to the previous event")
        if _hash_of(event) != event.hash:
            return count, ChainBreak(str(event.id), event.seq, "content does not match its hash")
        expected_prev = event.hash
    if count != tenant.audit_seq or (count and expected_prev != tenant.audit_head):
        return count, ChainBreak(None, tenant.audit_seq, f"the tenant's chain head says {tenant.audit_seq} events")
    return count, None
