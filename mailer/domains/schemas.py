from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class DomainCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=253, description="The domain mail is sent From, e.g. acme.com.")
