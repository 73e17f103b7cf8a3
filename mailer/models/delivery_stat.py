"""Hourly delivery counts kept for messages that retention deleted, so /v1/stats keeps its numbers."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from mailer.extensions import db
from mailer.models.types import UTCDateTime, enum_column, uuid_pk


class StatScope(StrEnum):
    RECIPIENT = "recipient"
    MESSAGE = "message"


class DeliveryStat(db.Model):  # type: ignore[name-defined]
    """``count`` purged recipients (or messages) of one creator created in one hour, by final status.

    Append-only: each purge batch adds its own rows; readers sum them.
    """

    __tablename__ = "delivery_stats"
    __table_args__ = (Index("ix_delivery_stats_tenant_period", "tenant_id", "period_start"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"), nullable=False)
    # The hour (UTC) the rows were created in: the time /v1/stats windows are measured on.
    period_start: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    scope: Mapped[StatScope] = enum_column(StatScope, 16, nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    count: Mapped[int] = mapped_column(Integer, nullable=False)
