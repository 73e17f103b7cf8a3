"""Suppression administration: the rules behind /v1/suppressions (tenant-scoped, audited). Owns the commit."""

from __future__ import annotations

from sqlalchemy import Select, delete, select

from mailer.audit import record_audit
from mailer.errors import NotFoundError
from mailer.extensions import atomic, db
from mailer.feedback.schemas import SuppressionListQuery
from mailer.mail.suppressions import add_suppression
from mailer.models import Suppression, SuppressionReason, SuppressionScope
from mailer.security.scope import tenant_select
from mailer.security.types import Principal
from mailer.smtp.validation import normalize_address


def canonical_email(email: str, field: str = "email") -> str:
    """The address as suppressions store it (validated, lower-cased); MessageValidationError if it is not one."""
    return normalize_address(email, field=field).lower()


def listed(filters: SuppressionListQuery) -> Select[tuple[Suppression]]:
    """The caller's tenant's entries matching GET /v1/suppressions's filters, newest first."""
    query = tenant_select(Suppression)
    if filters.reason is not None:
        query = query.where(Suppression.reason == filters.reason)
    if filters.scope is not None:
        query = query.where(Suppression.scope == filters.scope)
    if filters.email is not None:
        query = query.where(Suppression.email == filters.email.strip().lower())
    return query.order_by(Suppression.created_at.desc(), Suppression.id)


def entries_for(principal: Principal, email: str) -> list[Suppression]:
    """The tenant's entries for this address (one per scope); NotFoundError when there is none."""
    rows = db.session.scalars(select(Suppression).where(
        Suppression.tenant_id == principal.tenant_id, Suppression.email == email.strip().lower()
    ).order_by(Suppression.scope)).all()
    if not rows:
        raise NotFoundError()
    return list(rows)


def create_manual(principal: Principal, email: str, scope: SuppressionScope) -> Suppression:
    with atomic():
        entry, _ = add_suppression(principal.tenant_id, canonical_email(email), scope=scope,
                                   reason=SuppressionReason.MANUAL, actor_id=principal.id, actor_type=principal.kind)
    return entry


def delete_entries(principal: Principal, email: str, scope: SuppressionScope | None) -> None:
    """Remove the address's entries (of one scope, or all); audited. NotFoundError when none matched."""
    rows = [r for r in entries_for(principal, email) if scope is None or r.scope == scope]
    if not rows:
        raise NotFoundError()
    db.session.execute(delete(Suppression).where(Suppression.id.in_([r.id for r in rows])))
    with atomic():
        for row in rows:
            record_audit("suppression.deleted", tenant_id=principal.tenant_id, actor_id=principal.id,
                         actor_type=principal.kind,
                         details={"suppression_id": str(row.id), "email": row.email, "scope": row.scope,
                                  "reason": row.reason})
