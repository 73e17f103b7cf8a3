"""Builds the wire message for a request up front, so a bad one fails with a 4xx, not a job later.

It raises the SMTP package's typed errors; mailer/errors.py maps them to problem+json in one place.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mailer.config import Config
from mailer.domains.signing import dkim_sign
from mailer.models import Tenant
from mailer.smtp.mime import Address, Attachment, MessageContent, make_message_id, message_id_domain
from mailer.smtp.validation import (
    check_display_name,
    check_size,
    check_subject,
    normalize_address,
)
from mailer.smtp.wire import message_bytes


@dataclass(frozen=True)
class ComposedMessage:
    sender: str
    subject: str
    message_id: str
    wire: bytes
    recipients: tuple[Address, ...]


def sender_of(tenant: Tenant, config: Config) -> Address:
    return Address(tenant.mail_from or config.MAIL_FROM, tenant.mail_from_name or config.MAIL_FROM_NAME)


def address(email: str, name: str, *, field: str) -> Address:
    return Address(normalize_address(email, field=f"{field}.email" if name else field),
                   check_display_name(name, field=f"{field}.name"))


def compose(
    config: Config,
    tenant: Tenant,
    *,
    to: Sequence[Address],
    subject: str,
    text: str | None,
    html: str | None,
    cc: Sequence[Address] = (),
    bcc: Sequence[Address] = (),
    reply_to: Address | None = None,
    attachments: Sequence[Attachment] = (),
    headers: tuple[tuple[str, str], ...] = (),
    message_id: str | None = None,
) -> ComposedMessage:
    """Validate and build (a new Message-ID unless given). Raises MessageValidationError (422) or
    MessageTooLargeError (413); errors.py maps them."""
    check_subject(subject)
    # Bounded before any work: a body that cannot fit the message is refused before its text part is derived.
    check_size((text or "").encode() + (html or "").encode(), config.MAX_MESSAGE_BYTES)
    sender = sender_of(tenant, config)
    content = MessageContent(
        sender=sender, to=tuple(to), cc=tuple(cc), bcc=tuple(bcc), subject=subject, text=text, html=html,
        reply_to=reply_to, attachments=tuple(attachments), headers=headers,
    )
    message_id = message_id or make_message_id(message_id_domain(sender.email))
    wire = dkim_sign(config, tenant.id, sender.email, message_bytes(content, message_id=message_id))
    check_size(wire, config.MAX_MESSAGE_BYTES)
    recipients = _unique((*to, *cc, *bcc))
    return ComposedMessage(sender.email, subject, message_id, wire, recipients)


def _unique(addresses: Sequence[Address]) -> tuple[Address, ...]:
    seen: dict[str, Address] = {}
    for item in addresses:
        seen.setdefault(item.email.lower(), item)
    return tuple(seen.values())
