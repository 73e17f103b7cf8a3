"""Sending domains of a tenant and their DKIM keys (API.md §10)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mailer.extensions import db
from mailer.models.types import UTCDateTime, created_at, enum_column, uuid_pk


class RecordStatus(StrEnum):
    """Of a DNS record, a DKIM key, and a domain as a whole."""

    PENDING = "pending"
    VERIFIED = "verified"
    FAILED = "failed"


def _record_status() -> Any:
    return enum_column(RecordStatus, 16, default=RecordStatus.PENDING, nullable=False)


class SendingDomain(db.Model):  # type: ignore[name-defined]
    __tablename__ = "sending_domains"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"), index=True, nullable=False)
    name: Mapped[str] = mapped_column(String(253), nullable=False)  # lower-case IDNA ASCII, no trailing dot
    status: Mapped[RecordStatus] = _record_status()
    # The other records as last looked up; only the DKIM keys decide the domain's status.
    return_path_status: Mapped[RecordStatus] = _record_status()
    spf_status: Mapped[RecordStatus] = _record_status()
    dmarc_status: Mapped[RecordStatus] = _record_status()
    created_at: Mapped[datetime] = created_at()
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    keys: Mapped[list[DkimKey]] = relationship(
        back_populates="domain", cascade="all, delete-orphan", order_by="DkimKey.created_at"
    )


class DkimKey(db.Model):  # type: ignore[name-defined]
    """One selector's key. The private key is sealed with SECRETS_KEY (security/secret_box)."""

    __tablename__ = "dkim_keys"
    __table_args__ = (UniqueConstraint("domain_id", "selector"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    domain_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sending_domains.id", ondelete="CASCADE"),
                                                 index=True, nullable=False)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"), index=True, nullable=False)
    selector: Mapped[str] = mapped_column(String(63), nullable=False)
    public_key: Mapped[str] = mapped_column(Text, nullable=False)  # base64 DER SubjectPublicKeyInfo, the p= tag
    private_key_sealed: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[RecordStatus] = _record_status()
    created_at: Mapped[datetime] = created_at()
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    domain: Mapped[SendingDomain] = relationship(back_populates="keys")
