"""What comes back after the 250: suppressions, stored inbound reports, and the findings already applied."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from mailer.extensions import db
from mailer.models.types import UTCDateTime, created_at, enum_column, uuid_pk


class SuppressionScope(StrEnum):
    ALL = "all"
    BROADCAST = "broadcast"


class SuppressionReason(StrEnum):
    HARD_BOUNCE = "hard_bounce"
    COMPLAINT = "complaint"
    UNSUBSCRIBE = "unsubscribe"
    MANUAL = "manual"


class FeedbackOutcome(StrEnum):
    """Event outcomes that come back after the 250 (API.md §4, §8); the SMTP ones are smtp.results.Outcome."""

    BOUNCED = "bounced"
    DELAYED = "delayed"
    COMPLAINED = "complained"
    UNSUBSCRIBED = "unsubscribed"


class ReportStatus(StrEnum):
    PENDING = "pending"
    PROCESSED = "processed"
    UNMATCHED = "unmatched"
    FAILED = "failed"  # could not be processed after several attempts; kept for an operator


class Suppression(db.Model):  # type: ignore[name-defined]
    """One address the tenant must not mail (in one scope). ``email`` is stored lower-cased."""

    __tablename__ = "suppressions"
    __table_args__ = (UniqueConstraint("tenant_id", "email", "scope", name="uq_suppressions_tenant_email_scope"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"), nullable=False)
    email: Mapped[str] = mapped_column(String(254), nullable=False)
    scope: Mapped[SuppressionScope] = enum_column(SuppressionScope, 16, nullable=False)
    reason: Mapped[SuppressionReason] = enum_column(SuppressionReason, 16, nullable=False)
    # The API id of the message that caused it; no foreign key, so purging old messages keeps the entry.
    source_message_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    enhanced_code: Mapped[str | None] = mapped_column(String(16))
    detail: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at()


class InboundReport(db.Model):  # type: ignore[name-defined]
    """A mail the inbound receiver accepted for one token address, stored raw until a job processes it."""

    __tablename__ = "inbound_reports"
    __table_args__ = (Index("ix_inbound_reports_status_received", "status", "received_at"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    # "b" (bounce return path) or "u" (mailto unsubscribe), and the recipient row the signed token names.
    token_kind: Mapped[str] = mapped_column(String(1), nullable=False)
    recipient_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    raw: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    status: Mapped[ReportStatus] = enum_column(ReportStatus, 16, default=ReportStatus.PENDING, nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    # While a job holds the report (claimed in a batch); a pending report past it is claimable again.
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    result: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = created_at()
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class FeedbackRecord(db.Model):  # type: ignore[name-defined]
    """A finding applied to a recipient; unique per report, so the same report twice records one event."""

    __tablename__ = "feedback_records"
    __table_args__ = (UniqueConstraint("recipient_id", "report_key", name="uq_feedback_records_recipient_key"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"), nullable=False)
    recipient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("recipients.id"), nullable=False)
    report_key: Mapped[str] = mapped_column(String(64), nullable=False)
    kind: Mapped[FeedbackOutcome] = enum_column(FeedbackOutcome, 16, nullable=False)
    created_at: Mapped[datetime] = created_at()
