"""Request and response bodies of /v1/webhooks (API.md §9); they validate and document the routes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from mailer.http.pagination import PageQuery
from mailer.webhooks.events import EventType


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WebhookCreate(Strict):
    url: str = Field(min_length=1, max_length=2048)
    events: list[EventType] = Field(min_length=1, max_length=len(EventType))
    description: str | None = Field(default=None, max_length=500)


class WebhookPatch(Strict):
    url: str | None = Field(default=None, min_length=1, max_length=2048)
    events: list[EventType] | None = Field(default=None, min_length=1, max_length=len(EventType))
    enabled: bool | None = None
    description: str | None = Field(default=None, max_length=500)


class RotateSecret(Strict):
    """The body of rotate-secret (optional): ``expire_previous`` ends the old secret at once (a leak)."""

    expire_previous: StrictBool = False


class WebhookOut(Strict):
    id: uuid.UUID
    url: str
    events: list[EventType]
    enabled: bool
    description: str | None
    disabled_reason: str | None
    created_at: datetime


class WebhookWithSecret(WebhookOut):
    secret: str


class TestAccepted(Strict):
    event_id: uuid.UUID
    delivery_id: uuid.UUID


class DeliveryQuery(PageQuery):
    status: Literal["pending", "succeeded", "failed"] | None = None


class DeliveryOut(Strict):
    id: uuid.UUID
    event_id: uuid.UUID
    event_type: EventType
    attempts: int
    status: Literal["pending", "succeeded", "failed"]
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: datetime | None
    created_at: datetime


class AttemptOut(Strict):
    at: datetime
    status_code: int | None
    latency_ms: int | None
    error: str | None


class DeliveryDetail(DeliveryOut):
    attempt_log: list[AttemptOut]
