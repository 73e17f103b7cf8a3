from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mailer.extensions import db
from mailer.models.types import UTCDateTime, created_at, utcnow, uuid_pk


class TemplateParts:
    """The columns a template and each of its language variants have alike."""

    id: Mapped[uuid.UUID] = uuid_pk()
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"), nullable=False)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    subject: Mapped[str] = mapped_column(Text, nullable=False)
    html: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str] = mapped_column(String(500), default="", nullable=False)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False)


class Template(TemplateParts, db.Model):  # type: ignore[name-defined]
    """A tenant's template; overrides a built-in one of the same name for that tenant only."""

    __tablename__ = "templates"
    __table_args__ = (UniqueConstraint("tenant_id", "name", name="uq_templates_tenant_name"),)


class TemplateVariant(TemplateParts, db.Model):  # type: ignore[name-defined]
    """A language variant of a tenant's template (API.md §14: `PUT /v1/templates/{name}?locale=zh-CN`).

    Rendering picks the variant of the reader's language, else the template itself (the tenant's or the
    built-in one); a variant may exist for a built-in name with no tenant template of that name.
    """

    __tablename__ = "template_variants"
    __table_args__ = (UniqueConstraint("tenant_id", "name", "locale", name="uq_template_variants_tenant_name_locale"),)

    locale: Mapped[str] = mapped_column(String(8), nullable=False)
