"""Erasers for what feedback and webhooks keep about an address (API.md §11).

A suppression keeps working after its address is erased: its row holds the digest, and the suppression
check matches each address's digests too (``mail.suppressions.suppressed_among``).
"""

from __future__ import annotations

import json

from sqlalchemy import func, or_, select

from mailer.erasure.mime import erase_copy, mentions, scrub
from mailer.erasure.target import Target
from mailer.extensions import db
from mailer.models import InboundReport, Recipient, Suppression, WebhookEvent
from mailer.webhooks.retention import forget_events

_CHUNK = 200


def erase_suppressions(target: Target) -> int:
    """The tenant's suppressions of the address: the address becomes its digest, the detail is scrubbed."""
    rows = db.session.scalars(select(Suppression).where(
        Suppression.tenant_id == target.tenant_id, func.lower(Suppression.email) == target.address,
    )).all()
    for row in rows:
        row.email = target.digest
        row.detail = row.detail and scrub(row.detail, target.address, target.digest)
    return len(rows)


def erase_inbound_reports(target: Target) -> int:
    """Stored bounce and complaint reports that hold the address in any form: those about the tenant's
    recipient rows, and orphans whose recipient row is gone (purged; their tenant cannot be known, so an
    erasure in any tenant scrubs them: over-erasing unattributable data is the safe side). The raw mail is
    rewritten, or emptied when it cannot be."""
    tenant_rows = select(Recipient.id).where(Recipient.tenant_id == target.tenant_id)
    orphaned = ~select(Recipient.id).where(Recipient.id == InboundReport.recipient_id).exists()
    ids = list(db.session.scalars(select(InboundReport.id).where(
        or_(InboundReport.recipient_id.in_(tenant_rows), orphaned))))
    changed = 0
    for start in range(0, len(ids), _CHUNK):
        for report in db.session.scalars(select(InboundReport).where(InboundReport.id.in_(ids[start:start + _CHUNK]))):
            in_result = report.result is not None and target.address in report.result.lower()
            if not (in_result or mentions(report.raw, target.address)):
                continue
            report.raw = erase_copy(report.raw, target.address, target.digest) or b""
            report.result = report.result and scrub(report.result, target.address, target.digest)
            changed += 1
    return changed


def erase_webhook_events(target: Target) -> int:
    """The tenant's webhook events whose payload holds the address (message events, ``suppression.created``,
    any other), with their deliveries, pending or not."""
    ids = [event_id for event_id, data in db.session.execute(
        select(WebhookEvent.id, WebhookEvent.data).where(WebhookEvent.tenant_id == target.tenant_id))
        if target.address in json.dumps(data).lower()]
    return forget_events(db.session, ids)
