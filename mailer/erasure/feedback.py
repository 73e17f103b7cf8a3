"""Erasers for what feedback and webhooks keep about an address (API.md §11).

A suppression keeps working after its address is erased: its row holds the digest, and the suppression
check matches each address's digests too (``feedback.suppressions.suppressed_among``).
"""

from __future__ import annotations

from sqlalchemy import func, select

from mailer.erasure.mime import scrub
from mailer.erasure.target import Target, messages_to
from mailer.extensions import db
from mailer.models import InboundReport, Recipient, Suppression
from mailer.webhooks.retention import forget_message_events


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
    """Stored bounce and complaint reports about the tenant's recipient rows of the address (already erased
    to the digest by ``erase_recipients``, which runs first): the address in the raw report is replaced."""
    recipient_ids = select(Recipient.id).where(Recipient.tenant_id == target.tenant_id,
                                               func.lower(Recipient.email).in_(target.forms))
    needle = target.address.encode()
    changed = 0
    for report in db.session.scalars(select(InboundReport).where(InboundReport.recipient_id.in_(recipient_ids))):
        if needle in report.raw.lower():
            text = report.raw.decode("utf-8", "surrogateescape")
            report.raw = scrub(text, target.address, target.digest).encode("utf-8", "surrogateescape")
            changed += 1
    return changed


def erase_webhook_events(target: Target) -> int:
    """Webhook events about the tenant's messages to the address carry it in their payload: they go, with
    their deliveries (finished messages only; mail still in flight is erased once it has gone)."""
    message_ids = list(db.session.scalars(messages_to(target, finished=True)))
    return forget_message_events(db.session, message_ids)
