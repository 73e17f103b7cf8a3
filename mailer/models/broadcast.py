from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import JSON, ForeignKey, Text
from sqlalchemy.orm import Mapped, mapped_column

from mailer.extensions import db


class BroadcastContent(db.Model):  # type: ignore[name-defined]
    """The template source and data a broadcast was started with, frozen.

    Each recipient's mail is rendered from this snapshot, so editing or deleting the
    tenant's template later never changes a broadcast already in flight.
    """

    __tablename__ = "broadcast_contents"

    message_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("messages.id"), primary_key=True)
    subject: Mapped[str] = mapped_column(Text, nullable=False)
    html: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, nullable=False)
    # The named template's language variants when it was started (API.md §14): {locale: {subject, html, text}}.
    variants: Mapped[dict[str, Any] | None] = mapped_column(JSON)
