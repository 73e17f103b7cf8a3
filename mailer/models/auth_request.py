"""A sign-up, resend-verification or forgot-password request waiting for the worker.

The request handler stores the facts here and enqueues only this row's id; the worker does
the look-up-dependent work (does the account exist?), so neither the answer nor its timing
reveals it. A row still `pending` after a while had no job (Redis was down): the sweeper
finds it by (status, created_at) and enqueues it again.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from mailer.extensions import db
from mailer.models.types import UTCDateTime, created_at, enum_column, uuid_pk


class AuthRequestKind(StrEnum):
    REGISTER = "register"
    RESEND_VERIFICATION = "resend_verification"
    FORGOT_PASSWORD = "forgot_password"


class AuthRequestStatus(StrEnum):
    PENDING = "pending"
    DONE = "done"
    EXPIRED = "expired"


class AuthRequest(db.Model):  # type: ignore[name-defined]
    __tablename__ = "auth_requests"
    __table_args__ = (Index("ix_auth_requests_status_created", "status", "created_at"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"), nullable=False)
    kind: Mapped[AuthRequestKind] = enum_column(AuthRequestKind, 32, nullable=False)
    email: Mapped[str] = mapped_column(String(254), nullable=False)
    name: Mapped[str] = mapped_column(String(200), default="", nullable=False)
    # Sign-up only; cleared as soon as the request is processed.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    ip: Mapped[str | None] = mapped_column(String(45))
    # Sign-up only: the new account's language, as the request named it (API.md §14); None: the tenant's.
    locale: Mapped[str | None] = mapped_column(String(8))
    status: Mapped[AuthRequestStatus] = enum_column(AuthRequestStatus, 16, default=AuthRequestStatus.PENDING,
                                                    nullable=False)
    created_at: Mapped[datetime] = created_at()
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
