"""Claims recipients, hands them to the SMTP handler, records every result.

The database decides what is due; a job only carries ids, so running one twice is harmless:
recipients already sent, or claimed by a live lease, are skipped.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

from flask import current_app
from sqlalchemy import and_, func, or_, select, update

from mailer.config import Config
from mailer.extensions import db
from mailer.models import DeliveryEvent, Message, MessageStatus, Recipient, RecipientStatus
from mailer.smtp.handler import OutgoingMail, SmtpHandler
from mailer.smtp.results import ErrorCode, Outcome, RecipientResult
from mailer.smtp.settings import Encryption, SmtpServer

_handler: SmtpHandler | None = None


def smtp_handler() -> SmtpHandler:
    """One handler (and so one connection pool) per process."""
    global _handler
    if _handler is None:
        _handler = SmtpHandler()
    return _handler


def smtp_server(config: Config, owner: str) -> SmtpServer:
    return SmtpServer(
        host=config.SMTP_HOST,
        port=config.SMTP_PORT,
        username=config.SMTP_USERNAME or None,
        password=config.SMTP_PASSWORD or None,
        encryption=Encryption(config.SMTP_ENCRYPTION),
        timeout=config.SMTP_TIMEOUT_SECONDS,
        verify_tls=config.SMTP_VERIFY_TLS,
        ca_file=config.SMTP_CA_FILE or None,
        owner=owner,
    )


def _due(now: datetime) -> object:
    waiting = and_(
        Recipient.status.in_([RecipientStatus.QUEUED.value, RecipientStatus.DEFERRED.value]),
        or_(Recipient.next_attempt_at.is_(None), Recipient.next_attempt_at <= now),
    )
    lease_expired = and_(Recipient.status == RecipientStatus.SENDING.value, Recipient.lease_until < now)
    return or_(waiting, lease_expired)


def claim_recipients(message_id: uuid.UUID, config: Config) -> list[Recipient]:
    """Atomically move the message's due recipients to `sending` with a lease; return them."""
    now = datetime.now(UTC)
    lease = now + timedelta(seconds=config.DELIVERY_LEASE_SECONDS)
    token = uuid.uuid4().hex[:16]
    db.session.execute(
        update(Recipient)
        .where(Recipient.message_id == message_id, _due(now))
        .values(status=RecipientStatus.SENDING.value, lease_until=lease, last_error=token)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    claimed = db.session.scalars(
        select(Recipient).where(
            Recipient.message_id == message_id,
            Recipient.status == RecipientStatus.SENDING.value,
            Recipient.last_error == token,
        ).order_by(Recipient.position)
    ).all()
    return list(claimed)


def deliver(message_id: uuid.UUID) -> None:
    config: Config = current_app.config["MAILER"]
    message = db.session.get(Message, message_id)
    if message is None:
        return
    recipients = claim_recipients(message.id, config)
    if not recipients:
        return
    if message.raw_mime is None:  # rendered per recipient (broadcasts)
        from mailer.mail.broadcast import send_rendered

        results = send_rendered(message, recipients, smtp_handler(), smtp_server(config, str(message.tenant_id)))
    else:
        mail = OutgoingMail(
            sender=message.sender,
            recipients=tuple(r.email for r in recipients),
            message=message.raw_mime,
            message_id=message.message_id_header,
        )
        results = smtp_handler().send(smtp_server(config, str(message.tenant_id)), mail)
    for recipient, result in zip(recipients, results, strict=True):
        record_result(recipient, result, config)
    roll_up(message)
    db.session.commit()


def retry_delay(config: Config, attempts: int, hint: float | None) -> float:
    delays = config.SMTP_RETRY_DELAYS
    base = delays[min(attempts, len(delays)) - 1]
    if hint is not None:
        base = max(base, hint) if hint > base else hint
    return base + random.uniform(0, base * 0.1)


def record_result(recipient: Recipient, result: RecipientResult, config: Config) -> None:
    now = datetime.now(UTC)
    recipient.attempts += 1
    recipient.smtp_code = result.smtp_code
    recipient.enhanced_code = result.enhanced_code
    recipient.smtp_response = result.response
    recipient.lease_until = None
    recipient.last_error = None
    db.session.add(
        DeliveryEvent(
            recipient_id=recipient.id, tenant_id=recipient.tenant_id, at=now, outcome=result.outcome.value,
            smtp_code=result.smtp_code, enhanced_code=result.enhanced_code, response=result.response,
        )
    )
    if result.outcome is Outcome.SENT:
        recipient.status = RecipientStatus.SENT.value
        recipient.smtp_message_id = result.message_id
        recipient.sent_at = now
        recipient.next_attempt_at = None
    elif result.outcome is Outcome.FAILED:
        recipient.status = RecipientStatus.FAILED.value
        recipient.error_code = (result.error_code or ErrorCode.INVALID_MESSAGE).value
        recipient.last_error = result.response
        recipient.next_attempt_at = None
    elif recipient.attempts >= config.SMTP_MAX_ATTEMPTS:
        recipient.status = RecipientStatus.FAILED.value
        recipient.error_code = ErrorCode.RETRIES_EXHAUSTED.value
        recipient.last_error = result.response
        recipient.next_attempt_at = None
    else:
        recipient.status = RecipientStatus.DEFERRED.value
        recipient.last_error = result.response
        delay = retry_delay(config, recipient.attempts, result.retry_after)
        recipient.next_attempt_at = now + timedelta(seconds=delay)


def roll_up(message: Message) -> None:
    """Derive the message's status from its recipients'."""
    rows = dict(
        db.session.execute(
            select(Recipient.status, func.count()).where(Recipient.message_id == message.id).group_by(Recipient.status)
        ).all()
    )
    total = sum(rows.values())
    sent, failed = rows.get(RecipientStatus.SENT.value, 0), rows.get(RecipientStatus.FAILED.value, 0)
    if total and sent == total:
        status = MessageStatus.SENT
    elif total and failed == total:
        status = MessageStatus.FAILED
    elif total and sent + failed == total:
        status = MessageStatus.PARTIALLY_FAILED
    elif rows.get(RecipientStatus.SENDING.value) or sent or failed or rows.get(RecipientStatus.DEFERRED.value):
        status = MessageStatus.SENDING
    elif message.status == MessageStatus.SCHEDULED.value:
        status = MessageStatus.SCHEDULED
    else:
        status = MessageStatus.QUEUED
    message.status = status.value
