"""Tokens we keep server-side: single-use action tokens (as hashes) and refresh-token sessions."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from mailer.extensions import db
from mailer.models.types import UTCDateTime, created_at, enum_column, uuid_pk


class ActionPurpose(StrEnum):
    VERIFICATION = "verification"
    PASSWORD_RESET = "password_reset"


class ActionToken(db.Model):  # type: ignore[name-defined]
    """An emailed link's token. Only its SHA-256 is stored; bound to one purpose, user and tenant."""

    __tablename__ = "action_tokens"
    __table_args__ = (Index("ix_action_tokens_user_purpose", "user_id", "purpose"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"), nullable=False)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), nullable=False)
    purpose: Mapped[ActionPurpose] = enum_column(ActionPurpose, 32, nullable=False)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    # Set when redeemed, or when a newer token of the same purpose voided this one.
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = created_at()


class RefreshToken(db.Model):  # type: ignore[name-defined]
    """One issued refresh JWT (by jti). Rotation marks it used; re-use revokes its whole family."""

    __tablename__ = "refresh_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"), nullable=False)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), nullable=False, index=True)
    # Every token rotated from one login shares the family of that login.
    family: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = created_at()
