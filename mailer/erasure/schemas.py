"""Bodies of POST /v1/erasures."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict, Field

from mailer.models import ErasureStatus


class ErasureRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(min_length=1, max_length=320, description="The address to erase from the tenant's data.")


class ErasureAccepted(BaseModel):
    """``done`` when nothing is left; ``pending`` while mail to the address is still being delivered."""

    model_config = ConfigDict(extra="forbid")

    id: uuid.UUID
    status: ErasureStatus
