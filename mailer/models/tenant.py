from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Boolean, Date, Integer, String
from sqlalchemy import true as sa_true
from sqlalchemy.orm import Mapped, mapped_column

from mailer.extensions import db
from mailer.models.types import created_at, uuid_pk


class Tenant(db.Model):  # type: ignore[name-defined]
    __tablename__ = "tenants"

    id: Mapped[uuid.UUID] = uuid_pk()
    slug: Mapped[str] = mapped_column(String(63), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    frontend_url: Mapped[str | None] = mapped_column(String(500))
    mail_from: Mapped[str | None] = mapped_column(String(254))
    mail_from_name: Mapped[str | None] = mapped_column(String(200))
    # Days finished messages are kept (API.md §11); None: MESSAGE_RETENTION_DAYS.
    retention_days: Mapped[int | None] = mapped_column(Integer)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    # Whether anyone may register on this tenant (POST /v1/auth/register); an admin may close it.
    signup_enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default=sa_true(), nullable=False)
    created_at: Mapped[datetime] = created_at()
    # Head of the tenant's audit hash chain (see mailer/audit.py); also the row locked per audit write.
    audit_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0", nullable=False)
    audit_head: Mapped[str] = mapped_column(String(64), default="", server_default="", nullable=False)
    # Recipients accepted on quota_day (UTC) under the daily quota: the running count it checks (mail/quota.py).
    quota_day: Mapped[date | None] = mapped_column(Date)
    quota_used: Mapped[int] = mapped_column(Integer, default=0, server_default="0", nullable=False)
    # Raised by every change to the tenant's sending domains or DKIM keys (domains/service.py): a process's
    # cached DKIM signer is used only while the tenant row it reads still shows the version it was found at.
    domains_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0", nullable=False)
    # Languages and branding (API.md §14): the language of a reader we know nothing of (None: DEFAULT_LOCALE),
    # and what the built-in mail and the hosted pages show.
    default_locale: Mapped[str | None] = mapped_column(String(8))
    brand_color: Mapped[str | None] = mapped_column(String(7))
    logo_url: Mapped[str | None] = mapped_column(String(500))
    postal_address: Mapped[str | None] = mapped_column(String(500))
