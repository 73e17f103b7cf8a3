from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Literal

from sqlalchemy import Boolean, Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mailer.extensions import db
from mailer.models.tenant import Tenant
from mailer.models.types import UTCDateTime, created_at, enum_column, uuid_pk


class Role(StrEnum):
    USER = "user"
    ADMIN = "admin"
    SERVICE = "service"  # API keys only; never stored on a user


class ActorType(StrEnum):
    """Who did something: a person, an API key, or the service itself (system mail, sweeps, feedback)."""

    USER = "user"
    API_KEY = "api_key"
    SYSTEM = "system"


# The roles a person may hold, spelled as the API's schemas accept and show them (Role.USER, Role.ADMIN).
PersonRole = Literal["user", "admin"]


class User(db.Model):  # type: ignore[name-defined]
    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("tenant_id", "email", name="uq_users_tenant_email"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"), nullable=False, index=True)
    # Stored lower-cased: addresses are unique per tenant regardless of case.
    email: Mapped[str] = mapped_column(String(254), nullable=False)
    name: Mapped[str] = mapped_column(String(200), default="", nullable=False)
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    role: Mapped[Role] = enum_column(Role, 16, default=Role.USER, nullable=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Bumped to invalidate every outstanding token of the user at once.
    token_version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)
    created_at: Mapped[datetime] = created_at()
    # Recipients this user (role user) sent on quota_day (UTC): the running count of USER_DAILY_QUOTA (mail/quota.py).
    quota_day: Mapped[date | None] = mapped_column(Date)
    quota_used: Mapped[int] = mapped_column(Integer, default=0, server_default="0", nullable=False)
    # The person's language (API.md §14: `en` or `zh-CN`); None: the tenant's default_locale.
    locale: Mapped[str | None] = mapped_column(String(8))

    tenant: Mapped[Tenant] = relationship(lazy="joined")

    @property
    def email_verified(self) -> bool:
        return self.email_verified_at is not None
