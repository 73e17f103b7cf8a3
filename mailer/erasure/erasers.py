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
from mailer.erasure.mime import erase_copy, mentions, scrub
from mailer.erasure.target import Eraser, Remainder, Target, messages_to, tenant_messages
from mailer.extensions import db
from mailer.models import (
    UNFINISHED,
    AuthRequest,
    AuthRequestStatus,
    BroadcastContent,
    DeliveryEvent,
    IdempotencyKey,
    Message,
    Recipient,
)

_CHUNK = 200


def _texts(message: Message, content: BroadcastContent | None) -> list[str]:
    texts = [message.subject, message.sender, json.dumps(message.tags), json.dumps(message.meta)]
    if content is not None:
        texts += [content.subject, content.html or "", content.text or "", json.dumps(content.data)]
    return texts


def _mentioning(target: Target, *, finished: bool) -> list[tuple[Message, BroadcastContent | None]]:
    """The tenant's messages (finished or in flight) that hold the address anywhere: to it or not (Reply-To,
    a body, a Bcc in a base64 part), in their stored copy (decoded), subject, sender, tags, metadata, or a
    broadcast's content. Every message of the tenant is looked at: erasure is rare, retention bounds them."""
    to_address = set(db.session.scalars(messages_to(target, finished=finished)))
    ids = list(db.session.scalars(tenant_messages(target, finished=finished)))
    found = []
    for start in range(0, len(ids), _CHUNK):
        rows = db.session.execute(
            select(Message, BroadcastContent).outerjoin(BroadcastContent, BroadcastContent.message_id == Message.id)
            .where(Message.id.in_(ids[start:start + _CHUNK]))
        ).tuples().all()
        for message, content in rows:
            if (message.id in to_address or any(target.address in text.lower() for text in _texts(message, content))
                    or mentions(message.raw_mime, target.address)):
                found.append((message, content))
    return found


def _scrub_json(value: object, target: Target) -> object:
    return json.loads(scrub(json.dumps(value), target.address, target.digest))


def erase_messages(target: Target) -> int:
    """Finished messages holding the address: the stored copy (headers, every text part in any encoding,
    attachments dropped; dropped whole if it cannot be rewritten), subject, sender, tags, metadata, and a
    broadcast's subject, bodies and data."""
    changed = 0
    for message, content in _mentioning(target, finished=True):
        if message.raw_mime is not None and mentions(message.raw_mime, target.address):
            message.raw_mime = erase_copy(message.raw_mime, target.address, target.digest)
        message.subject = scrub(message.subject, target.address, target.digest)
        message.sender = scrub(message.sender, target.address, target.digest)
        message.tags = _scrub_json(message.tags, target)
        message.meta = _scrub_json(message.meta, target)
        if content is not None:
            content.subject = scrub(content.subject, target.address, target.digest)
            content.html = content.html and scrub(content.html, target.address, target.digest)
            content.text = content.text and scrub(content.text, target.address, target.digest)
            content.data = _scrub_json(content.data, target)
        changed += 1
    return changed


def _own_recipients(target: Target) -> Sequence[Recipient]:
    return db.session.scalars(select(Recipient).where(
        Recipient.tenant_id == target.tenant_id, func.lower(Recipient.email) == target.address,
        Recipient.status.not_in(UNFINISHED),
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
        AuthRequest.status != AuthRequestStatus.PENDING,
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
    """Messages holding the address that are still being delivered (their stored copy is needed)."""
    return len(_mentioning(target, finished=False))


def unfinished_auth_requests(target: Target) -> int:
    return db.session.scalar(select(func.count()).select_from(AuthRequest).where(
        AuthRequest.tenant_id == target.tenant_id, func.lower(AuthRequest.email) == target.address,
        AuthRequest.status == AuthRequestStatus.PENDING,
    )) or 0


# Order matters only in that messages are found through their recipients' addresses or digests.
ERASERS: list[Eraser] = [
    erase_messages, erase_webhook_events, erase_recipients, erase_auth_requests, erase_idempotency_answers,
    erase_suppressions, erase_inbound_reports,
]
REMAINDERS: list[Remainder] = [unfinished_delivery, unfinished_auth_requests]
