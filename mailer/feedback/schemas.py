"""Request and response bodies of the suppression API (API.md §8); they also document /openapi.json."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from mailer.http.pagination import PageQuery
from mailer.models import SuppressionReason, SuppressionScope


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SuppressionCreate(Strict):
    email: str = Field(min_length=3, max_length=254)
    scope: SuppressionScope = SuppressionScope.ALL
    reason: Literal["manual"] = "manual"


class SuppressionOut(Strict):
    email: str
    scope: SuppressionScope
    reason: SuppressionReason
    source_message_id: uuid.UUID | None
    enhanced_code: str | None
    detail: str | None
    created_at: datetime


class SuppressionEntries(Strict):
    items: list[SuppressionOut]


class SuppressionListQuery(PageQuery):
    reason: SuppressionReason | None = None
    scope: SuppressionScope | None = None
    email: str | None = Field(default=None, max_length=254)


class SuppressionDeleteQuery(Strict):
    scope: SuppressionScope | None = None
