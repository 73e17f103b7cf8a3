"""Suppression rules: which failures suppress, adding entries, and the checks before sending.

Lookups go by (tenant_id, email) through the unique index, a chunk of addresses per query,
so checking a recipient costs one index probe whatever the list's size.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Sequence

from flask import current_app
from sqlalchemy import ColumnElement, bindparam, exists, func, insert, select
from sqlalchemy.exc import IntegrityError

from mailer.audit import record_audit
from mailer.extensions import db, savepoint
from mailer.models import (
    ActorType,
    DeliveryEvent,
    Message,
    MessageKind,
    MessageStatus,
    Recipient,
    RecipientStatus,
    Suppression,
    SuppressionReason,
    SuppressionScope,
)
from mailer.models.types import utcnow
from mailer.security.address_digest import DOMAIN as DIGEST_DOMAIN
from mailer.security.address_digest import address_digests
from mailer.smtp.results import ErrorCode, Outcome, RecipientResult
from mailer.webhooks import EventType, emit

log = logging.getLogger(__name__)

# Enhanced codes saying the mailbox does not exist or is disabled (API.md §8). 5.7.x never suppresses.
HARD_BOUNCE_CODES = frozenset({"5.1.1", "5.1.2", "5.1.3", "5.1.6", "5.1.10", "5.2.1"})
SUPPRESSED_RESPONSE = "not sent: the address is on the tenant's suppression list"
_CHUNK = 500
_EVENT_CHUNK = 5000
_SUPPRESSIONS = Suppression.__table__
# Built once (a Core select on the table, IN lists expanded at execution): building it and its cache key on
# every accepted message cost more CPU than running it.
_AMONG = (
    _SUPPRESSIONS.c.tenant_id == bindparam("tenant_id"),
    _SUPPRESSIONS.c.email.in_(bindparam("emails", expanding=True)),
    _SUPPRESSIONS.c.scope.in_(bindparam("scopes", expanding=True)),
)
_SUPPRESSED_AMONG = select(_SUPPRESSIONS.c.email).where(*_AMONG)
# The same look-up as one array value (PostgreSQL), for a statement that carries the screen with another read.
SUPPRESSED_LIST = select(func.array_agg(_SUPPRESSIONS.c.email)).where(*_AMONG).scalar_subquery()
# Whether the tenant suppresses an address (any of its forms) in one of the scopes, for a caller's own statement
# to screen one row with (suppression_params): a one-message claim's in-flight mark (mail/recording.py).
SUPPRESSES = exists().where(
    _SUPPRESSIONS.c.tenant_id == bindparam("s_tenant", type_=_SUPPRESSIONS.c.tenant_id.type),
    _SUPPRESSIONS.c.email.in_(bindparam("s_forms", expanding=True, type_=_SUPPRESSIONS.c.email.type)),
    _SUPPRESSIONS.c.scope.in_(bindparam("s_scopes", expanding=True, type_=_SUPPRESSIONS.c.scope.type)),
)
_INSERT_EVENTS = insert(DeliveryEvent.__table__)


def is_hard_bounce(enhanced_code: str | None) -> bool:
    return enhanced_code is not None and enhanced_code.strip() in HARD_BOUNCE_CODES


def scopes_for(kind: str) -> tuple[SuppressionScope, ...]:
    """Scopes that block a message of this kind: ``all`` always, ``broadcast`` for broadcasts only."""
    if kind == MessageKind.BROADCAST:
        return (SuppressionScope.ALL, SuppressionScope.BROADCAST)
    return (SuppressionScope.ALL,)


def suppressed_among(tenant_id: uuid.UUID, emails: Iterable[str], scopes: Sequence[str]) -> set[str]:
    """The lower-cased addresses among ``emails`` that the tenant suppresses in one of ``scopes``.

    An erased address (API.md §11) is stored as its digest: each address is looked up in every form.
    """
    forms = stored_forms(emails)
    wanted = sorted(forms)
    found: set[str] = set()
    for start in range(0, len(wanted), _CHUNK):
        found.update(forms[stored.lower()] for stored in db.session.scalars(_SUPPRESSED_AMONG, {
            "tenant_id": tenant_id, "emails": wanted[start:start + _CHUNK], "scopes": list(scopes)}))
    return found


def stored_forms(emails: Iterable[str]) -> dict[str, str]:
    """Each form an address may be stored in (lower-cased, or as its digests) → that address."""
    forms: dict[str, str] = {}
    for email in {email.lower() for email in emails}:
        forms.update(dict.fromkeys(_forms(email), email))
    return forms


def _forms(email: str) -> list[str]:
    """The forms a suppression of the lower-cased ``email`` may be stored in: itself, or its digests (erased)."""
    return [email, *address_digests(current_app.config["MAILER"], email)]


def screen_parameters(tenant_id: uuid.UUID, kind: str, rows: Sequence[dict[str, object]],
                      ) -> tuple[dict[str, object], dict[str, str]] | None:
    """SUPPRESSED_LIST's parameters for screening new ``rows`` and the forms that map its answer back to their
    addresses; None when they are too many for one look-up (``screen_new_rows`` then)."""
    forms = stored_forms(str(row["email"]) for row in rows)
    if len(forms) > _CHUNK:
        return None
    return {"tenant_id": tenant_id, "emails": sorted(forms), "scopes": list(scopes_for(kind))}, forms


def suppression_params(recipient: Recipient) -> dict[str, object]:
    """SUPPRESSES' parameters for a claimed row (its tenant, address and message kind)."""
    return {"s_tenant": recipient.tenant_id, "s_forms": _forms(recipient.email.lower()),
            "s_scopes": list(scopes_for(recipient.message.kind))}


def add_suppression(
    tenant_id: uuid.UUID, email: str, *, scope: SuppressionScope, reason: SuppressionReason,
    source_message_id: uuid.UUID | None = None, enhanced_code: str | None = None, detail: str | None = None,
    actor_id: uuid.UUID | None = None, actor_type: ActorType = ActorType.SYSTEM,
) -> tuple[Suppression, bool]:
    """The tenant's entry for (email, scope), added (and audited) if missing: (entry, created). Caller commits."""
    email = email.lower()
    existing = _find(tenant_id, email, scope)
    if existing is not None:
        return existing, False
    entry = new_entry(tenant_id, email, scope=scope, reason=reason, source_message_id=source_message_id,
                      enhanced_code=enhanced_code, detail=detail)
    try:
        with savepoint():
            db.session.add(entry)
    except IntegrityError:  # added concurrently: theirs stands
        return _find(tenant_id, email, scope), False  # type: ignore[return-value]
    record_audit("suppression.created", tenant_id=tenant_id, actor_id=actor_id, actor_type=actor_type,
                 details=created_details(entry))
    emit(db.session, EventType.SUPPRESSION_CREATED, [entry])
    return entry, True


def new_entry(tenant_id: uuid.UUID, email: str, *, scope: SuppressionScope, reason: SuppressionReason,
              source_message_id: uuid.UUID | None = None, enhanced_code: str | None = None,
              detail: str | None = None) -> Suppression:
    """A suppression entry as stored (address lower-cased, detail clipped), not yet added to the session."""
    return Suppression(id=uuid.uuid4(), tenant_id=tenant_id, email=email.lower(), scope=scope,
                       reason=reason, source_message_id=source_message_id, enhanced_code=enhanced_code,
                       detail=(detail or None) and detail[:2000])


def created_details(entry: Suppression) -> dict[str, str | None]:
    """The `suppression.created` audit event's details for an entry."""
    return {"suppression_id": str(entry.id), "email": entry.email, "scope": entry.scope, "reason": entry.reason,
            "message_id": str(entry.source_message_id) if entry.source_message_id else None}


def _find(tenant_id: uuid.UUID, email: str, scope: SuppressionScope) -> Suppression | None:
    return db.session.scalars(select(Suppression).where(
        Suppression.tenant_id == tenant_id, Suppression.email == email, Suppression.scope == scope
    )).first()


def entries_blocking(tenant_id: uuid.UUID, email: str, kind: str) -> list[Suppression]:
    """The tenant's suppression entries that block mail of ``kind`` to ``email`` (why a recipient was suppressed)."""
    return list(db.session.scalars(select(Suppression).where(
        Suppression.tenant_id == tenant_id, Suppression.email == email.strip().lower(),
        Suppression.scope.in_(scopes_for(kind)),
    )))


def suppress_hard_failures(results: Sequence[tuple[uuid.UUID, uuid.UUID, RecipientResult]]) -> None:
    """Synchronous permanent failures whose code says the mailbox is gone suppress the address (scope all).

    ``results``: (recipient id, tenant id, result) of each attempt just recorded.
    """
    hard = [(rid, tid, r) for rid, tid, r in results if r.outcome is Outcome.FAILED and is_hard_bounce(r.enhanced_code)]
    if not hard:
        return
    rows = dict(db.session.execute(
        select(Recipient.id, Recipient.message_id).where(Recipient.id.in_([rid for rid, _, _ in hard]))
    ).tuples().all())
    for recipient_id, tenant_id, result in hard:
        add_suppression(tenant_id, result.recipient, scope=SuppressionScope.ALL,
                        reason=SuppressionReason.HARD_BOUNCE, source_message_id=rows.get(recipient_id),
                        enhanced_code=result.enhanced_code, detail=result.response)


def screen_before_send(
    recipients: Sequence[Recipient],
) -> tuple[list[Recipient], list[tuple[Recipient, RecipientResult]]]:
    """Split claimed rows into those to send and suppressed ones (with their ``suppressed`` result).

    Called right before SMTP, so retries, ``send_at`` and broadcasts made before a suppression obey it.
    """
    blocked: set[uuid.UUID] = set()
    groups: dict[tuple[uuid.UUID, tuple[str, ...]], list[Recipient]] = {}
    for recipient in recipients:
        groups.setdefault((recipient.tenant_id, scopes_for(recipient.message.kind)), []).append(recipient)
    for (tenant_id, scopes), group in groups.items():
        hits = suppressed_among(tenant_id, (r.email for r in group), scopes)
        blocked.update(r.id for r in group if r.email.lower() in hits)
    keep = [r for r in recipients if r.id not in blocked]
    results = [(r, suppressed_result(r.email)) for r in recipients if r.id in blocked]
    _announce([recipient.id for recipient, _ in results])
    return keep, results


def suppressed_result(email: str) -> RecipientResult:
    return RecipientResult(email, Outcome.SUPPRESSED, response=SUPPRESSED_RESPONSE, error_code=ErrorCode.SUPPRESSED)


def screen_new_rows(tenant_id: uuid.UUID, kind: str, rows: list[dict[str, object]]) -> int:
    """At accept time, for recipient rows inserted by Core statements: mark the suppressed ones. Returns how many.

    Mutates ``rows`` before the insert; their events are added by ``add_suppressed_events`` after it.
    """
    return mark_suppressed(rows, suppressed_among(tenant_id, (str(row["email"]) for row in rows), scopes_for(kind)))


def mark_suppressed(rows: list[dict[str, object]], hits: set[str]) -> int:
    """``screen_new_rows`` given the lower-cased suppressed addresses among the rows'."""
    count = 0
    for row in rows:
        if str(row["email"]).lower() in hits:
            fail_as_suppressed(row)
            count += 1
    return count


# What "suppressed at accept" means, for every insert (Core for a message, COPY for a broadcast): the row
# rule and the message rule below; their events follow the insert (add_suppressed_events).
def fail_as_suppressed(row: dict[str, object]) -> None:
    """What "suppressed at accept" means for a recipient row not yet inserted: failed at once, never due."""
    row.update(status=RecipientStatus.FAILED, error_code=ErrorCode.SUPPRESSED,
               last_error=SUPPRESSED_RESPONSE, next_attempt_at=None)


def fail_if_all_suppressed(message: Message, suppressed: int, recipients: int) -> bool:
    """Every recipient suppressed at accept: no delivery will roll the message up, so it fails now."""
    if not recipients or suppressed < recipients:
        return False
    message.status = MessageStatus.FAILED
    return True


def suppressed_pairs(rows: Sequence[dict[str, object]]) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(recipient id, tenant id) of the rows ``screen_new_rows`` failed, for ``add_suppressed_events``."""
    return [(row["id"], row["tenant_id"]) for row in rows  # type: ignore[misc]
            if row.get("error_code") == ErrorCode.SUPPRESSED]


def suppressed_clause(tenant_id: uuid.UUID, email: ColumnElement[str], scopes: Sequence[str]) -> ColumnElement[bool]:
    """In SQL, for a bulk audience (broadcasts): whether ``email`` is suppressed as written, one index probe a row.

    Addresses stored as digests (erased, API.md §11) are matched by ``erased_hits``.
    """
    return exists().where(Suppression.tenant_id == tenant_id, Suppression.email == func.lower(email),
                          Suppression.scope.in_(list(scopes)))


def erased_hits(tenant_id: uuid.UUID, emails: Sequence[str], scopes: Sequence[str]) -> set[str]:
    """The lower-cased addresses among ``emails`` suppressed only as a digest. Hashes each address only
    when the tenant has such entries in these scopes (rare), so a broadcast's screen stays one query."""
    if db.session.scalar(select(Suppression.id).where(
            Suppression.tenant_id == tenant_id, Suppression.scope.in_(list(scopes)),
            Suppression.email.like(f"%@{DIGEST_DOMAIN}")).limit(1)) is None:
        return set()
    return suppressed_among(tenant_id, emails, scopes)


def add_suppressed_events(pairs: Sequence[tuple[uuid.UUID, uuid.UUID]]) -> None:
    """The ``suppressed`` events of (recipient id, tenant id) rows failed at accept time, in bulk."""
    _add_events(pairs)


def _add_events(pairs: Sequence[tuple[uuid.UUID, uuid.UUID]]) -> None:
    if not pairs:
        return
    now = utcnow()
    db.session.flush()
    for start in range(0, len(pairs), _EVENT_CHUNK):
        db.session.execute(_INSERT_EVENTS, [
            {"id": uuid.uuid4(), "recipient_id": rid, "tenant_id": tid, "at": now,
             "outcome": Outcome.SUPPRESSED, "smtp_code": None, "enhanced_code": None,
             "response": SUPPRESSED_RESPONSE}
            for rid, tid in pairs[start:start + _EVENT_CHUNK]
        ])
    _announce([rid for rid, _ in pairs])


def _announce(recipient_ids: Sequence[uuid.UUID]) -> None:
    emit(db.session, EventType.MESSAGE_SUPPRESSED, recipient_ids, smtp_code=None, enhanced_code=None,
         response=SUPPRESSED_RESPONSE)
