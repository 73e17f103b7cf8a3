"""The erasers: one per kind of row that may hold an address, each replacing it by the digest.

An eraser takes the ``Target`` (tenant, address, digests) and returns how many rows it changed; it
runs in the erasure's transaction and never commits. It erases only what no longer takes part in
delivery (a recipient still waiting, the stored copy of an unfinished message, a pending auth
request): ``unfinished`` counts what is left, and the erasure stays pending while it is not zero.

Feedback's and webhooks' erasers are in ``erasure.feedback``; another package that stores addresses
adds its own to ``ERASERS``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from sqlalchemy import func, select

from mailer.erasure.feedback import erase_inbound_reports, erase_suppressions, erase_webhook_events
from mailer.erasure.mime import scrub, scrub_mime
from mailer.erasure.target import WAITING, Eraser, Remainder, Target, messages_to
from mailer.extensions import db
from mailer.models import (
    AuthRequest,
    AuthRequestStatus,
    DeliveryEvent,
    IdempotencyKey,
    Message,
    Recipient,
)


def erase_messages(target: Target) -> int:
    """Stored copies (headers and text parts), subjects, tags and metadata of finished messages."""
    changed = 0
    for message in db.session.scalars(select(Message).where(Message.id.in_(messages_to(target, finished=True)))):
        if message.raw_mime is not None and target.address.encode() in message.raw_mime.lower():
            message.raw_mime = scrub_mime(message.raw_mime, target.address, target.digest)
        message.subject = scrub(message.subject, target.address, target.digest)
        message.tags = [scrub(tag, target.address, target.digest) for tag in message.tags]
        message.meta = {k: scrub(v, target.address, target.digest) for k, v in message.meta.items()}
        changed += 1
    return changed


def _own_recipients(target: Target) -> Sequence[Recipient]:
    return db.session.scalars(select(Recipient).where(
        Recipient.tenant_id == target.tenant_id, func.lower(Recipient.email) == target.address,
        Recipient.status.not_in(WAITING),
    )).all()


def erase_recipients(target: Target) -> int:
    """Finished recipient rows: the address, the display name, and the address in replies and events."""
    rows = _own_recipients(target)
    for row in rows:
        row.email, row.name = target.digest, ""
        row.smtp_response = row.smtp_response and scrub(row.smtp_response, target.address, target.digest)
        row.last_error = row.last_error and scrub(row.last_error, target.address, target.digest)
        for event in db.session.scalars(select(DeliveryEvent).where(DeliveryEvent.recipient_id == row.id)):
            event.response = event.response and scrub(event.response, target.address, target.digest)
    return len(rows)


def erase_auth_requests(target: Target) -> int:
    """Processed sign-up, resend and forgot-password requests."""
    rows = db.session.scalars(select(AuthRequest).where(
        AuthRequest.tenant_id == target.tenant_id, func.lower(AuthRequest.email) == target.address,
        AuthRequest.status != AuthRequestStatus.PENDING.value,
    )).all()
    for row in rows:
        row.email, row.name = target.digest, ""
    return len(rows)


def erase_idempotency_answers(target: Target) -> int:
    """Stored 202 answers (kept 24 h) list their recipients' addresses."""
    changed = 0
    for row in db.session.scalars(select(IdempotencyKey).where(IdempotencyKey.tenant_id == target.tenant_id)):
        text = json.dumps(row.response)
        if target.address in text.lower():
            row.response = json.loads(scrub(text, target.address, target.digest))
            changed += 1
    return changed


def unfinished_delivery(target: Target) -> int:
    """Messages to the address that are still being delivered (its recipient row, or another, waits)."""
    return db.session.scalar(
        select(func.count()).select_from(messages_to(target, finished=False).subquery())
    ) or 0


def unfinished_auth_requests(target: Target) -> int:
    return db.session.scalar(select(func.count()).select_from(AuthRequest).where(
        AuthRequest.tenant_id == target.tenant_id, func.lower(AuthRequest.email) == target.address,
        AuthRequest.status == AuthRequestStatus.PENDING.value,
    )) or 0


# Order matters only in that messages are found through their recipients' addresses or digests.
ERASERS: list[Eraser] = [
    erase_messages, erase_webhook_events, erase_recipients, erase_auth_requests, erase_idempotency_answers,
    erase_suppressions, erase_inbound_reports,
]
REMAINDERS: list[Remainder] = [unfinished_delivery, unfinished_auth_requests]


def register_eraser(eraser: Eraser, remainder: Remainder | None = None) -> None:
    """Add an eraser (and, if it may leave rows for later, what counts them). Idempotent."""
    if eraser not in ERASERS:
        ERASERS.append(eraser)
    if remainder is not None and remainder not in REMAINDERS:
        REMAINDERS.append(remainder)
