from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    Uuid,
    cast,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mailer.extensions import db
from mailer.models.types import UTCDateTime, created_at, enum_column, utcnow, uuid_pk
from mailer.models.user import ActorType


class MessageKind(StrEnum):
    VERIFICATION = "verification"
    PASSWORD_RESET = "password_reset"
    PASSWORD_CHANGED = "password_changed"
    ACCOUNT_EXISTS = "account_exists"
    CUSTOM = "custom"
    BROADCAST = "broadcast"


class MessageStatus(StrEnum):
    SCHEDULED = "scheduled"
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    PARTIALLY_FAILED = "partially_failed"
    FAILED = "failed"


class RecipientStatus(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DEFERRED = "deferred"
    FAILED = "failed"
    BOUNCED = "bounced"  # was sent; a bounce report came back later (API.md §8)


# The recipient status sets the code asks about, each written once.
# Waiting: a delivery job may claim the row once it is due (the partial index ix_recipients_tenant_waiting).
WAITING = (RecipientStatus.QUEUED, RecipientStatus.DEFERRED)
# Unfinished: waiting, or being sent now; the message may still change (ix_recipients_message_open).
UNFINISHED = (*WAITING, RecipientStatus.SENDING)
# Undelivered: ended without delivery, refused or bounced later (ix_recipients_tenant_failed, the console's failures).
UNDELIVERED = (RecipientStatus.FAILED, RecipientStatus.BOUNCED)
# A message's ended statuses: nothing of it is waiting or being sent (a broadcast is finished).
MESSAGE_FINISHED = (MessageStatus.SENT, MessageStatus.FAILED, MessageStatus.PARTIALLY_FAILED)


def _status_in(statuses: tuple[RecipientStatus, ...]) -> str:
    """A partial index's predicate over these statuses (the migrations spell the same text)."""
    quoted = ", ".join(f"'{status}'" for status in statuses)
    return f"status IN ({quoted})"


# Claim order of a recipient row, copied from its message's queue when the row is made, so the
# delivery loop's claim reads one index of recipients instead of joining and sorting every due row.
QUEUE_PRIORITY = {"critical": 0, "default": 1, "bulk": 2}
DEFAULT_PRIORITY = QUEUE_PRIORITY["default"]


def queue_priority(queue: str) -> int:
    """A recipient's ``priority`` for mail on ``queue`` (lower is claimed first; unknown queues last)."""
    return QUEUE_PRIORITY.get(queue, QUEUE_PRIORITY["bulk"])


class Message(db.Model):  # type: ignore[name-defined]
    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_tenant_created", "tenant_id", "created_at"),
        # A user's or key's own list (GET /v1/messages for non-admins), newest first.
        Index("ix_messages_tenant_creator_created", "tenant_id", "created_by", "created_at"),
        # The console's broadcast list, newest first, however many other messages the tenant has.
        Index("ix_messages_tenant_broadcasts", "tenant_id", "created_at",
              postgresql_where=text("kind = 'broadcast'"), sqlite_where=text("kind = 'broadcast'")),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"), nullable=False)
    kind: Mapped[MessageKind] = enum_column(MessageKind, 32, nullable=False)
    # Who asked for it: a user id or an API key id (creator_type says which); None for system mail.
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    creator_type: Mapped[ActorType] = enum_column(ActorType, 16, default=ActorType.USER, nullable=False)
    subject: Mapped[str] = mapped_column(String(998), nullable=False)
    sender: Mapped[str] = mapped_column(String(254), nullable=False)
    # RFC 5322 Message-ID header; every copy of this message carries the same one.
    message_id_header: Mapped[str] = mapped_column(String(255), nullable=False)
    # The built message as it goes on the wire (no Bcc header). None when rendered per recipient.
    raw_mime: Mapped[bytes | None] = mapped_column(LargeBinary)
    queue: Mapped[str] = mapped_column(String(16), default="default", nullable=False)
    status: Mapped[MessageStatus] = enum_column(MessageStatus, 20, default=MessageStatus.QUEUED, nullable=False)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list, nullable=False)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict, nullable=False)
    send_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The language the request asked for (API.md §3 `locale`, §14): which variant of its template was rendered.
    locale: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False)

    recipients: Mapped[list[Recipient]] = relationship(
        back_populates="message", order_by="Recipient.position", cascade="all, delete-orphan"
    )


# ?subject= is a substring match: a trigram GIN index answers LIKE '%…%' on PostgreSQL (created by the
# migration there only; SQLite scans the tenant's messages by ix_messages_tenant_created).
Index("ix_messages_subject_trgm", func.lower(Message.subject).label("subject_lower"),
      postgresql_using="gin", postgresql_ops={"subject_lower": "gin_trgm_ops"})
# ?tag= matches the tag's quoted form in the list's text (notifications.search.tag_filter): the same index kind.
Index("ix_messages_tags_trgm", cast(Message.tags, String).label("tags_text"),
      postgresql_using="gin", postgresql_ops={"tags_text": "gin_trgm_ops"})


class Recipient(db.Model):  # type: ignore[name-defined]
    __tablename__ = "recipients"
    __table_args__ = (
        Index("ix_recipients_due", "status", "next_attempt_at"),
        Index("ix_recipients_tenant_created", "tenant_id", "created_at"),
        # The delivery loop's claim (leases.claim_due_for_owner): a tenant's waiting rows in claim
        # order, and its rows whose lease may have run out; each a short index range scan.
        Index("ix_recipients_tenant_waiting", "tenant_id", "priority", "created_at", "position",
              postgresql_where=text(_status_in(WAITING)), sqlite_where=text(_status_in(WAITING))),
        Index("ix_recipients_tenant_leased", "tenant_id", "lease_until",
              postgresql_where=text("status = 'sending'"), sqlite_where=text("status = 'sending'")),
        # The roll-up's "is this message still unfinished?" probe (recording._still_sending).
        Index("ix_recipients_message_open", "message_id",
              postgresql_where=text(_status_in(UNFINISHED)), sqlite_where=text(_status_in(UNFINISHED))),
        # The console's overview: a tenant's latest failures and its suppressed count in a window.
        Index("ix_recipients_tenant_failed", "tenant_id", "created_at",
              postgresql_where=text(_status_in(UNDELIVERED)), sqlite_where=text(_status_in(UNDELIVERED))),
        # GET /v1/messages?email= and erasure: a tenant's recipients by address, case-insensitively.
        Index("ix_recipients_tenant_email", "tenant_id", text("lower(email)")),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    message_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("messages.id"), nullable=False, index=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"), nullable=False)
    position: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    # queue_priority(message.queue); API messages and batches take the server default (default queue).
    priority: Mapped[int] = mapped_column(SmallInteger, default=DEFAULT_PRIORITY,
                                          server_default=text(str(DEFAULT_PRIORITY)), nullable=False)
    email: Mapped[str] = mapped_column(String(254), nullable=False)
    name: Mapped[str] = mapped_column(String(200), default="", nullable=False)
    status: Mapped[RecipientStatus] = enum_column(RecipientStatus, 16, default=RecipientStatus.QUEUED, nullable=False)
    error_code: Mapped[str | None] = mapped_column(String(32))
    attempts: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    smtp_code: Mapped[int | None] = mapped_column(Integer)
    enhanced_code: Mapped[str | None] = mapped_column(String(16))
    smtp_response: Mapped[str | None] = mapped_column(Text)
    smtp_message_id: Mapped[str | None] = mapped_column(String(255))
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Which job run holds the lease (set by the claim, cleared with the result).
    claim_token: Mapped[str | None] = mapped_column(String(32))
    # Set just before the handler is given this row's mail; a lease that expires with it set
    # means the worker died mid-attempt, so the retry is recorded as possibly a second copy.
    attempt_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The RQ job last enqueued for this row; the sweeper asks Redis whether it is still alive.
    job_id: Mapped[str | None] = mapped_column(String(64))
    # A broadcast copy's language: its user's `users.locale` when the broadcast was started (API.md §14).
    locale: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False)

    message: Mapped[Message] = relationship(back_populates="recipients")
    events: Mapped[list[DeliveryEvent]] = relationship(
        back_populates="recipient", order_by="DeliveryEvent.at", cascade="all, delete-orphan"
    )


class DeliveryEvent(db.Model):  # type: ignore[name-defined]
    """One attempt's outcome for one recipient."""

    __tablename__ = "delivery_events"

    id: Mapped[uuid.UUID] = uuid_pk()
    recipient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("recipients.id"), nullable=False, index=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"), nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    outcome: Mapped[str] = mapped_column(String(16), nullable=False)
    smtp_code: Mapped[int | None] = mapped_column(Integer)
    enhanced_code: Mapped[str | None] = mapped_column(String(16))
    response: Mapped[str | None] = mapped_column(Text)

    recipient: Mapped[Recipient] = relationship(back_populates="events")
