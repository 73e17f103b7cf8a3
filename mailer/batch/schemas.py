"""Request and response bodies of POST /v1/messages/batch."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mailer.notifications.responses import AcceptedRecipient
from mailer.notifications.schemas import MessageRequest
from mailer.openapi.problem import Problem

MAX_BATCH = 500


class BatchIn(BaseModel):
    """What the route parses: the items stay raw, so that one bad item is that item's 422, not the batch's."""

    model_config = ConfigDict(extra="forbid")

    messages: list[Any] = Field(min_length=1, max_length=MAX_BATCH)


class BatchRequest(BaseModel):
    """What the route documents: each item is the body of POST /v1/messages."""

    model_config = ConfigDict(extra="forbid")

    messages: list[MessageRequest] = Field(min_length=1, max_length=MAX_BATCH)


class Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ItemAccepted(Out):
    index: int
    status: Literal[202]
    id: uuid.UUID
    recipients: list[AcceptedRecipient]


class ItemRefused(Out):
    index: int
    status: int = Field(ge=400, le=499)
    error: Problem


class BatchResult(Out):
    items: list[ItemAccepted | ItemRefused]
