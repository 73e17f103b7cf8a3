"""Records audit events in a per-tenant keyed hash chain. Callers pass ids and facts, never secrets.

Each event stores the hash of the tenant's previous event and its own HMAC-SHA256 over its
content plus that link, and the tenant row keeps the chain's head. Altering, deleting
or reordering a stored event breaks the chain, which `flask audit verify TENANT` reports.
Writers lock the tenant row (SELECT … FOR NO KEY UPDATE on PostgreSQL) so concurrent events
never fork the chain; a unique (tenant_id, seq) is the backstop on every database.

The HMAC key is not readable from the database alone, so write access to it is not enough to
recompute a rewritten chain. It is the stable audit key (security.stable_keys: kept sealed under
SECRETS_KEY, never changed by a rotation), not anything derived from the Fernet keys in use nor
JWT_SECRET_KEY: either may be replaced (a SECRETS_KEY rotation, or logging everyone out), which
must not make the audit trail unverifiable. Chains signed before the keyring existed under a
still-listed SECRETS_KEY also verify. Events written before the chain was
keyed (plain SHA-256) do not verify: accepting them would let a writer recompute a whole chain.
Truncating the chain and resetting the head stays possible for a database writer, so every new
head is logged (`audit chain head`, after commit) to the log pipeline, outside the database:
a head the log shows and the database no longer has is a rewrite.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from flask import current_app, has_request_context, request
from sqlalchemy import Row, bindparam, insert, select, update

from mailer.extensions import current_unit, db
from mailer.models import ActorType, AuditEvent, Tenant
from mailer.models.types import utcnow
from mailer.security.address_digest import mask_addresses
from mailer.security.stable_keys import audit_keys

# Keys that must never reach an audit record, whatever a caller passes.
_SECRET_KEYS = ("password", "token", "secret", "key", "hash", "authorization", "body", "html", "text")
GENESIS = "0" * 64
# The tenant row's chain head is read and written with Core statements on the table: an ORM-enabled UPDATE
# autoflushes the session and plans a synchronisation it is told to skip, ~10 % of a POST /v1/messages.
TENANTS = Tenant.__table__
# Built once, executed with parameters (``tenant_row``: the tenant's id): building a statement and its cache key
# on every request cost more CPU than running it.
# FOR NO KEY UPDATE: exclusive among writers of the chain (and of the quota), but not against the KEY SHARE
# locks that this transaction's own inserts of rows referencing the tenant already hold, which FOR UPDATE
# would wait for: two such transactions would deadlock.
LOCKED_ROW = (
    select(TENANTS.c.quota_day, TENANTS.c.quota_used, TENANTS.c.audit_seq, TENANTS.c.audit_head)
    .where(TENANTS.c.id == bindparam("tenant_row")).with_for_update(key_share=True)
)
# Its SET clause is the parameters' other keys (columns of the tenant row).
_WRITE_TENANT_ROW = update(TENANTS).where(TENANTS.c.id == bindparam("tenant_row"))
_INSERT_EVENTS = insert(AuditEvent.__table__)
log = logging.getLogger(__name__)


def _clean(details: dict[str, Any]) -> dict[str, Any]:
    # An identifier ("api_key_id") names a row, not a secret.
    cleaned = {
        k: v for k, v in details.items()
        if k.lower().endswith("_id") or not any(s in k.lower() for s in _SECRET_KEYS)
    }
    # No address in the audit log (API.md §11): a caller's address becomes its keyed digest.
    cleaned = mask_addresses(cleaned, current_app.config["MAILER"])
    # Through JSON once, so that what is hashed is exactly what the database gives back.
    return json.loads(json.dumps(cleaned, default=str))


def _at(value: datetime) -> str:
    return value.isoformat(timespec="microseconds").replace("+00:00", "Z")


def _configured_keys() -> list[bytes]:
    return audit_keys(current_app.config["MAILER"])


def canonical_content(
    *, tenant_id: Any, seq: int, prev_hash: str, action: str, actor_id: Any, actor_type: ActorType,
    ip: str | None, at: datetime, details: dict[str, Any],
) -> bytes:
    """The event's canonical JSON, including the previous event's hash."""
    return json.dumps(
        {
            "tenant_id": str(tenant_id), "seq": seq, "prev_hash": prev_hash, "action": action,
            "actor_id": str(actor_id) if actor_id else None, "actor_type": actor_type, "ip": ip,
            "at": _at(at), "details": details,
        },
        sort_keys=True, separators=(",", ":"), ensure_ascii=False,
    ).encode()


def _content_of(event: AuditEvent) -> bytes:
    return canonical_content(
        tenant_id=event.tenant_id, seq=event.seq, prev_hash=event.prev_hash, action=event.action,
        actor_id=event.actor_id, actor_type=event.actor_type, ip=event.ip, at=event.at, details=event.details,
    )


def keyed_hash(content: bytes, key: bytes) -> str:
    return hmac.new(key, content, hashlib.sha256).hexdigest()


def _matches_key(event: AuditEvent, keys: list[bytes]) -> bool:
    content = _content_of(event)
    return any(hmac.compare_digest(keyed_hash(content, key), event.hash) for key in keys)


def record_audit(
    action: str,
    *,
    tenant_id: uuid.UUID,
    actor_id: uuid.UUID | None = None,
    actor_type: ActorType = ActorType.USER,
    details: dict[str, Any] | None = None,
    ip: str | None = None,
) -> AuditEvent:
    """Add an audit event to the session, chained to the tenant's last one; the caller commits, in an
    ``extensions.atomic()`` block (whose commit logs the new chain head).

    ``ip`` defaults to the request's client address (a worker passes the one it stored).
    Holds the tenant row's lock until the caller's transaction ends.
    """
    seq, head = _locked_head(tenant_id)
    event, head_values = add_chained(action, tenant_id=tenant_id, seq=seq, head=head, actor_id=actor_id,
                                     actor_type=actor_type, details=details, ip=ip)
    write_tenant_row(tenant_id, head_values)
    return event


def record_audits(action: str, *, tenant_id: uuid.UUID, details: Sequence[dict[str, Any]],
                  actor_type: ActorType = ActorType.SYSTEM) -> None:
    """``record_audit`` of several events of one tenant, in order: the chain head locked, read and written once."""
    if not details:
        return
    seq, head = _locked_head(tenant_id)
    _, head_values = add_chain(action, tenant_id=tenant_id, seq=seq, head=head, actor_type=actor_type,
                               details=details)
    write_tenant_row(tenant_id, head_values)


def _locked_head(tenant_id: uuid.UUID) -> tuple[int, str]:
    """The tenant's chain head (seq, hash), its row locked until the caller's transaction ends."""
    db.session.flush()  # pending changes first: the locked read below must not discard them
    row = locked_tenant_row(tenant_id)
    return row.audit_seq, row.audit_head


def locked_tenant_row(tenant_id: uuid.UUID) -> Row[Any]:
    """The tenant row's chain head and quota counter, locked until the caller's transaction ends (see above)."""
    return db.session.execute(LOCKED_ROW, {"tenant_row": tenant_id}).one()


def write_tenant_row(tenant_id: uuid.UUID, values: dict[str, Any]) -> None:
    """UPDATE the tenant row's ``values`` (its chain head, its quota counter) in one statement."""
    db.session.execute(_WRITE_TENANT_ROW, {"tenant_row": tenant_id, **values})


def add_chained(
    action: str, *, tenant_id: uuid.UUID, seq: int, head: str, actor_id: uuid.UUID | None = None,
    actor_type: ActorType = ActorType.USER, details: dict[str, Any] | None = None, ip: str | None = None,
) -> tuple[AuditEvent, dict[str, Any]]:
    """Add the event that follows the chain head (seq, head), which the caller read from the tenant row
    under its lock (see record_audit); returns it and the tenant row's new head values, which the caller
    writes in the same transaction (with other values of that row: one UPDATE)."""
    [event], head_values = add_chain(action, tenant_id=tenant_id, seq=seq, head=head, actor_id=actor_id,
                                     actor_type=actor_type, details=[details or {}], ip=ip)
    return event, head_values


def add_chain(
    action: str, *, tenant_id: uuid.UUID, seq: int, head: str, details: Sequence[dict[str, Any]],
    actor_id: uuid.UUID | None = None, actor_type: ActorType = ActorType.USER, ip: str | None = None,
) -> tuple[list[AuditEvent], dict[str, Any]]:
    """``add_chained`` for one event per entry of ``details``, in order, each linked to the one before: one
    INSERT for them all. Returns the events and the tenant row's new head values (the last event's)."""
    events, rows, head_values = chained_rows(action, tenant_id=tenant_id, seq=seq, head=head, details=details,
                                             actor_id=actor_id, actor_type=actor_type, ip=ip)
    # A Core INSERT: the objects stay outside the session (no flush of them, no identity map), as stored.
    db.session.execute(_INSERT_EVENTS, rows)
    return events, head_values


def chained_rows(
    action: str, *, tenant_id: uuid.UUID, seq: int, head: str, details: Sequence[dict[str, Any]],
    actor_id: uuid.UUID | None = None, actor_type: ActorType = ActorType.USER, ip: str | None = None,
) -> tuple[list[AuditEvent], list[dict[str, Any]], dict[str, Any]]:
    """``add_chain`` without its INSERT: the events, their rows (by column key), which the caller inserts in
    this transaction (with other rows: one statement), and the tenant row's new head values."""
    if ip is None and has_request_context():
        ip = request.remote_addr
    key = _configured_keys()[0]
    events = []
    for entry in details:
        event = AuditEvent(id=uuid.uuid4(), tenant_id=tenant_id, action=action, actor_id=actor_id,
                           actor_type=actor_type, ip=ip, at=utcnow(), details=_clean(entry), seq=seq + 1,
                           prev_hash=head or GENESIS)
        event.hash = keyed_hash(_content_of(event), key)  # every field is set: nothing may change now
        events.append(event)
        seq, head = event.seq, event.hash
    current_unit().after_commit(partial(_log_committed_head, str(tenant_id), seq, head),
                                key=(_log_committed_head, tenant_id))
    rows = [{c.key: getattr(event, c.key) for c in AuditEvent.__table__.c} for event in events]
    return events, rows, {"audit_seq": seq, "audit_head": head}


def _log_committed_head(tenant_id: str, seq: int, head: str) -> None:
    log.info("audit chain head", extra={"tenant_id": tenant_id, "audit_seq": seq, "audit_head": head})


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
    keys = _configured_keys()
    expected_prev, count = GENESIS, 0
    for event in events:
        count += 1
        if event.seq != count:
            return count, ChainBreak(str(event.id), event.seq, f"expected sequence {count}, found {event.seq}")
        if event.prev_hash != expected_prev:
            return count, ChainBreak(str(event.id), event.seq, "does not link to the previous event")
        if not _matches_key(event, keys):
            return count, ChainBreak(str(event.id), event.seq, "content does not match its hash")
        expected_prev = event.hash
    if count != tenant.audit_seq or (count and expected_prev != tenant.audit_head):
        return count, ChainBreak(None, tenant.audit_seq, f"the tenant's chain head says {tenant.audit_seq} events")
    return count, None
