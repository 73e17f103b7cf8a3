"""Builds the wire message for a request up front, so a bad one fails with a 4xx, not a job later."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from mailer.config import Config
from mailer.domains.signing import dkim_sign
from mailer.errors import PayloadTooLargeError, ValidationError
from mailer.models import Tenant
from mailer.smtp.mime import Address, Attachment, MessageContent, build_message, make_message_id, to_bytes
from mailer.smtp.validation import (
    MessageTooLargeError,
    MessageValidationError,
    check_display_name,
    check_size,
    check_subject,
    normalize_address,
)


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
    """Validate and build (with a new Message-ID unless given). Raises ValidationError (422) or
    PayloadTooLargeError (413)."""
    with validation_errors():
        check_subject(subject)
        sender = sender_of(tenant, config)
        content = MessageContent(
            sender=sender, to=tuple(to), cc=tuple(cc), bcc=tuple(bcc), subject=subject, text=text, html=html,
            reply_to=reply_to, attachments=tuple(attachments), headers=headers,
        )
        message_id = message_id or make_message_id(sender.email.rpartition("@")[2] or "localhost")
        wire = dkim_sign(config, tenant.id, sender.email, to_bytes(build_message(content, message_id=message_id)))
        check_size(wire, config.MAX_MESSAGE_BYTES)
    recipients = _unique((*to, *cc, *bcc))
    return ComposedMessage(sender.email, subject, message_id, wire, recipients)


def _unique(addresses: Sequence[Address]) -> tuple[Address, ...]:
    seen: dict[str, Address] = {}
    for item in addresses:
        seen.setdefault(item.email.lower(), item)
    return tuple(seen.values())


@contextmanager
def validation_errors() -> Iterator[None]:
    """Maps the SMTP package's typed validation errors onto problem responses (422, or 413 for size)."""
    try:
        yield
    except MessageTooLargeError as exc:
        raise PayloadTooLargeError(str(exc)) from None
    except MessageValidationError as exc:
        errors = [{"field": e.field, "message": e.message} for e in exc.errors]
        raise ValidationError("One or more fields are invalid.", errors=errors) from None
