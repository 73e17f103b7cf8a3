"""A tenant's request to erase one address from its data (API.md §11)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from mailer.extensions import db
from mailer.models.types import UTCDateTime, created_at, enum_column, uuid_pk


class ErasureStatus(StrEnum):
    PENDING = "pending"  # mail to the address is still in flight; every purge erases what has finished since
    DONE = "done"


class Erasure(db.Model):  # type: ignore[name-defined]
    __tablename__ = "erasures"
    __table_args__ = (Index("ix_erasures_status", "status"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"), nullable=False)
    # The keyed hash the address is replaced by; the only trace of it once the erasure is done.
    digest: Mapped[str] = mapped_column(String(80), nullable=False)
    # The address sealed under SECRETS_KEY, kept only while the erasure is pending; None once done.
    sealed_address: Mapped[str | None] = mapped_column(Text)
    status: Mapped[ErasureStatus] = enum_column(ErasureStatus, 16, default=ErasureStatus.PENDING, nullable=False)
    requested_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[datetime] = created_at()
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Why a pending erasure cannot go on (its sealed address is unreadable); None while all is well.
    last_error: Mapped[str | None] = mapped_column(Text)
