"""HMAC keys that must outlive a SECRETS_KEY rotation (security.stable_keys), sealed under SECRETS_KEY."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from mailer.extensions import db
from mailer.models.types import created_at


class HmacKeyring(db.Model):  # type: ignore[name-defined]
    __tablename__ = "hmac_keyring"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    # JSON of the purpose keys (hex), sealed with SECRETS_KEY and bound to this row; resealed by `secrets rotate`.
    sealed: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = created_at()
