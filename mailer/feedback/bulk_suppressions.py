"""Adding many suppressions at once (a batch of bounce reports): what ``add_suppression`` does for one entry
— added if missing, audited, announced — in a few statements for all of them.

The existing entries are found with one query; the new ones are inserted together in a savepoint. When a
concurrent job added one of them first (the unique index refuses the insert), the savepoint is rolled back
and each entry goes through ``add_suppression``, which knows how to let theirs stand.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from mailer.audit import record_audits
from mailer.extensions import db, savepoint
from mailer.mail.suppressions import add_suppression, created_details, new_entry
from mailer.models import Suppression, SuppressionReason, SuppressionScope
from mailer.webhooks import EventType, emit


@dataclass(frozen=True)
class NewSuppression:
    tenant_id: uuid.UUID
    email: str
    scope: SuppressionScope
    reason: SuppressionReason
    source_message_id: uuid.UUID | None = None
    enhanced_code: str | None = None
    detail: str | None = None

    @property
    def key(self) -> tuple[uuid.UUID, str, str]:
        return self.tenant_id, self.email.lower(), self.scope


def add_suppressions(wanted: Sequence[NewSuppression]) -> None:
    """Each entry added (audited, ``suppression.created``) unless the tenant has it; the first of duplicates wins.
    Caller commits."""
    firsts: dict[tuple[uuid.UUID, str, str], NewSuppression] = {}
    for entry in wanted:
        firsts.setdefault(entry.key, entry)
    existing = _existing(list(firsts))
    missing = [entry for key, entry in firsts.items() if key not in existing]
    if not missing:
        return
    rows = [_row(entry) for entry in missing]
    try:
        with savepoint():
            db.session.add_all(rows)
    except IntegrityError:  # one was added concurrently: entry by entry, theirs stands
        for entry in missing:
            add_suppression(entry.tenant_id, entry.email, scope=entry.scope, reason=entry.reason,
                            source_message_id=entry.source_message_id, enhanced_code=entry.enhanced_code,
                            detail=entry.detail)
        return
    _audit(rows)
    emit(db.session, EventType.SUPPRESSION_CREATED, rows)


def _existing(keys: list[tuple[uuid.UUID, str, str]]) -> set[tuple[uuid.UUID, str, str]]:
    """Those of ``keys`` the tenants have: one query per tenant and scope (a batch is mostly one) and 500 addresses."""
    groups: dict[tuple[uuid.UUID, str], list[str]] = defaultdict(list)
    for tenant_id, email, scope in keys:
        groups[(tenant_id, scope)].append(email)
    found: set[tuple[uuid.UUID, str, str]] = set()
    for (tenant_id, scope), emails in groups.items():
        for start in range(0, len(emails), 500):
            found.update((tenant_id, email, scope) for email in db.session.scalars(select(Suppression.email).where(
                Suppression.tenant_id == tenant_id, Suppression.scope == scope,
                Suppression.email.in_(emails[start:start + 500]))))
    return found


def _row(entry: NewSuppression) -> Suppression:
    return new_entry(entry.tenant_id, entry.email, scope=entry.scope, reason=entry.reason,
                     source_message_id=entry.source_message_id, enhanced_code=entry.enhanced_code,
                     detail=entry.detail)


def _audit(rows: Sequence[Suppression]) -> None:
    """The entries' `suppression.created` audit events, tenant by tenant in id order (the lock order)."""
    by_tenant: dict[uuid.UUID, list[Suppression]] = defaultdict(list)
    for row in rows:
        by_tenant[row.tenant_id].append(row)
    for tenant_id in sorted(by_tenant):
        record_audits("suppression.created", tenant_id=tenant_id,
                      details=[created_details(row) for row in by_tenant[tenant_id]])
